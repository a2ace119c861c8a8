"""The rule registry: every rule the suite can fail a server for, declared once with a severity.

A rule is what a server must do ("a stop sequence cuts the text"); a check is one test that can
find it broken (plain and streamed variants of one behaviour share their rule). Declare a rule at
module level, next to the checks that use it, and pass the returned object to ``ensure``/``fail``:

    STOP = declare("chat.stop", CONTRACT, "a stop sequence ends the text before it, finish 'stop'")
    ...
    ensure(stop not in text, STOP, f"stop {stop!r} appears in the answer", exchange)

Ids are resolved when the module is imported: ``get("chat.stopp")`` at module level raises
:class:`UndeclaredRule`, declaring an id twice raises :class:`DuplicateRule`, and ``ensure``
refuses a bare string. So a typo can never turn into a rule nobody declared.

Severities (weights of the score in brackets):
- ``breaks-clients`` (3): the official SDK or a popular client fails or silently misbehaves.
- ``contract`` (2): departs from OpenAI's documented or observed contract.
- ``strict`` (1): a stricter rule of an opt-in profile, checked only under it: ``strict.*``
  rules under ``--profile strict``, ``openresponses.*`` rules under ``--profile openresponses``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = [
    "BREAKS_CLIENTS",
    "CONTRACT",
    "STRICT",
    "DuplicateRule",
    "Rule",
    "Severity",
    "UndeclaredRule",
    "declare",
    "get",
    "load_all",
    "markdown_table",
    "registered",
]


class Severity(StrEnum):
    BREAKS_CLIENTS = "breaks-clients"
    CONTRACT = "contract"
    STRICT = "strict"

    @property
    def weight(self) -> int:
        return {"breaks-clients": 3, "contract": 2, "strict": 1}[self.value]


BREAKS_CLIENTS = Severity.BREAKS_CLIENTS
CONTRACT = Severity.CONTRACT
STRICT = Severity.STRICT


class UndeclaredRule(LookupError):
    pass


class DuplicateRule(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    reason: str  # one line: why a server must do this
    clients: tuple[str, ...] = ()  # clients known to break or misbehave when it is broken
    module: str = ""

    def __str__(self) -> str:
        return self.id

    @property
    def profile(self) -> str | None:
        """The opt-in profile that checks this rule (its id's first part, for severity strict),
        or None for a rule of every profile."""
        return self.id.split(".", 1)[0] if self.severity == Severity.STRICT else None


_REGISTRY: dict[str, Rule] = {}


def declare(
    rule_id: str, severity: Severity, reason: str, *, clients: tuple[str, ...] = ()
) -> Rule:
    """Register a rule once; a second declaration of the same id is an error."""
    module = _caller_module()
    rule = Rule(rule_id, Severity(severity), reason, tuple(clients), module)
    known = _REGISTRY.get(rule_id)
    if known is not None:
        # The same module imported again (e.g. reloaded) re-declares the same rule: harmless.
        if known == rule:
            return known
        raise DuplicateRule(f"rule {rule_id!r} already declared in {known.module}")
    if not rule_id or rule_id != rule_id.strip() or " " in rule_id:
        raise ValueError(f"rule ids are dotted names without spaces, got {rule_id!r}")
    _REGISTRY[rule_id] = rule
    return rule


def get(rule_id: str) -> Rule:
    try:
        return _REGISTRY[rule_id]
    except KeyError:
        raise UndeclaredRule(
            f"rule {rule_id!r} is not declared (compliance.rules.declare)"
        ) from None


def registered() -> list[Rule]:
    return sorted(_REGISTRY.values(), key=lambda r: r.id)


def load_all() -> list[Rule]:
    """Import every module of the suite so that every rule is declared, and list them."""
    package = Path(__file__).resolve().parent
    for info in pkgutil.iter_modules([str(package)]):
        if info.name.startswith("test_") or info.name.startswith("_"):
            importlib.import_module(f"compliance.{info.name}")
    return registered()


def markdown_table(rules: list[Rule] | None = None) -> str:
    lines = ["| rule | severity | why | clients it breaks |", "|---|---|---|---|"]
    for rule in rules if rules is not None else load_all():
        clients = ", ".join(rule.clients) or "–"
        lines.append(f"| `{rule.id}` | {rule.severity} | {rule.reason} | {clients} |")
    return "\n".join(lines) + "\n"


def _caller_module() -> str:
    import sys

    frame = sys._getframe(2)
    return str(frame.f_globals.get("__name__", ""))


if __name__ == "__main__":
    # Run as a script this file is `__main__`, a registry apart from the one the suite's modules
    # declare into: print the table of the imported module.
    from compliance import rules as _imported

    print(_imported.markdown_table(), end="")
