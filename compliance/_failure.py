"""Compliance failures that name the rule, the request and what came back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from compliance import _shared_rules  # noqa: F401  (declares the rules every area shares)
from compliance.rules import Rule, get

if TYPE_CHECKING:
    from compliance._client import Exchange


class ComplianceFailure(AssertionError):
    """A deviation from the contract. Carries structured data for the report.

    ``cause`` groups failures into deviations: checks that fail one rule for the same cause are
    one root cause (one row of the report). It defaults to the rule itself; a check passes a
    finer one where one rule can break in unrelated ways (a schema violation names its path).
    """

    def __init__(
        self,
        rule: Rule | str,
        message: str,
        exchange: Exchange | None = None,
        cause: str | None = None,
        reproduce: str | None = None,
    ) -> None:
        # A bare id must be declared too (UndeclaredRule otherwise); modules pass Rule objects
        # bound at import, and tests/compliance/test_rules.py rejects undeclared literal ids.
        rule = rule if isinstance(rule, Rule) else get(rule)
        _exercised.add(rule.id)
        self.rule = rule
        self.message = message
        self.exchange = exchange
        self.cause = cause or rule.id
        self.reproduce = reproduce  # a command, where no single exchange reproduces it
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"[{self.rule.id}] ({self.rule.severity}) {self.message}"]
        if self.exchange is not None:
            lines.append(self.exchange.describe())
        return "\n".join(lines)

    def details(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule.id,
            "severity": str(self.rule.severity),
            "cause": self.cause,
            "message": self.message,
        }
        if self.exchange is not None:
            data.update(self.exchange.summary())
        if self.reproduce:
            data["curl"] = self.reproduce
        return data


# Rules the running check has evaluated, passed or not: what its verdict covers.
_exercised: set[str] = set()


def start_check() -> None:
    _exercised.clear()


def exercised() -> list[str]:
    return sorted(_exercised)


def fail(
    rule: Rule | str,
    message: str,
    exchange: Exchange | None = None,
    cause: str | None = None,
    reproduce: str | None = None,
) -> NoReturn:
    raise ComplianceFailure(rule, message, exchange, cause, reproduce)


def ensure(
    condition: object,
    rule: Rule | str,
    message: str,
    exchange: Exchange | None = None,
    cause: str | None = None,
) -> None:
    if not condition:
        fail(rule, message, exchange, cause)
    _exercised.add(rule.id if isinstance(rule, Rule) else get(rule).id)
