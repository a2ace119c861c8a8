"""The rule a check fails with, for the unit tests of the suite's checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compliance._failure import ComplianceFailure


def rule_of(check: Callable[[], Any]) -> str | None:
    """The id of the rule `check` fails, or None when it passes."""
    try:
        check()
    except ComplianceFailure as failure:
        return failure.rule.id
    return None
