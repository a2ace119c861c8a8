"""Compliance failures that name the rule, the request and what came back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from compliance import _shared_rules  # noqa: F401  (declares the rules every area shares)
from compliance._endpoints import UNRESPONSIVE, family_of
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
        root = _root_cause(exchange)
        if root is not None:
            # An exchange the suite refused to send (its endpoint stopped answering) is that
            # endpoint's fault, whatever the check would have judged: one row, not one per rule.
            rule, cause = root
            _exercised.add(rule.id)
        self.rule = rule
        self.message = message
        self.exchange = exchange
        self.cause = cause or rule.id
        self.reproduce = reproduce  # a command, where no single exchange reproduces it
        self.also: list[ComplianceFailure] = []  # soft failures of the same check, reported too
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


def _root_cause(exchange: Exchange | None) -> tuple[Rule, str] | None:
    rule_id = getattr(exchange, "error_rule", None)
    if rule_id != UNRESPONSIVE.id:
        return None
    return UNRESPONSIVE, f"{UNRESPONSIVE.id}: {family_of(exchange.url)}"  # type: ignore[union-attr]


# Rules the running check has evaluated, passed or not: what its verdict covers.
_exercised: set[str] = set()
# Soft failures of the running check (None: fail at once, as outside a check's call).
_soft: list[ComplianceFailure] | None = None


def start_check() -> None:
    _exercised.clear()


def begin_soft() -> None:
    """From now on `fail_soft` records instead of raising (a check's call phase)."""
    global _soft
    _soft = []


def end_soft() -> list[ComplianceFailure]:
    """The soft failures recorded since `begin_soft`; failing at once again."""
    global _soft
    found, _soft = _soft or [], None
    return found


def fail_soft(
    rule: Rule | str,
    message: str,
    exchange: Exchange | None = None,
    cause: str | None = None,
) -> None:
    """A deviation that leaves the answer readable (a schema or envelope violation): recorded so
    that the check goes on to its behaviour checks, and fails at its end. Outside a check's call
    (fixtures, direct use) it fails at once."""
    failure = ComplianceFailure(rule, message, exchange, cause)
    if _soft is None:
        raise failure
    if all((f.rule, f.cause) != (failure.rule, failure.cause) for f in _soft):
        _soft.append(failure)


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
    reached(rule)


def ensure_soft(
    condition: object,
    rule: Rule | str,
    message: str,
    exchange: Exchange | None = None,
    cause: str | None = None,
) -> None:
    """`ensure` for a deviation that leaves the answer readable (see `fail_soft`)."""
    if not condition:
        fail_soft(rule, message, exchange, cause)
    reached(rule)


def reached(rule: Rule | str) -> None:
    """Record that the running check evaluated `rule`, whether it held or not."""
    _exercised.add(rule.id if isinstance(rule, Rule) else get(rule).id)
