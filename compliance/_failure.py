"""Compliance failures that name the rule, the request and what came back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from compliance._client import Exchange


class ComplianceFailure(AssertionError):
    """A deviation from the contract. Carries structured data for the report."""

    def __init__(self, rule: str, message: str, exchange: Exchange | None = None) -> None:
        self.rule = rule
        self.message = message
        self.exchange = exchange
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"[{self.rule}] {self.message}"]
        if self.exchange is not None:
            lines.append(self.exchange.describe())
        return "\n".join(lines)

    def details(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "message": self.message}
        if self.exchange is not None:
            data.update(self.exchange.summary())
        return data


def fail(rule: str, message: str, exchange: Exchange | None = None) -> NoReturn:
    raise ComplianceFailure(rule, message, exchange)


def ensure(condition: object, rule: str, message: str, exchange: Exchange | None = None) -> None:
    if not condition:
        fail(rule, message, exchange)
