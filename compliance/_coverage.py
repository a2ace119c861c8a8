"""Which declared rules a run did not reach, and why: a score over 66 rules and one over 83 are
not the same verdict, and the summary says which rules the first one never judged.

A rule is reached when a check evaluated it (passed or failed). For one that was not, the reason
comes from the checks of the module that declares it: not selected (preset, -k), all skipped
(the reason of the first: a missing feature, an option not given), inconclusive (shed load), or
stopped early by another failure. Rules declared in shared modules are reached by many modules'
checks; the run's failures are then the likely reason, or nothing evaluated them at all.
"""

from __future__ import annotations

from typing import Any

import specs
from compliance.rules import Rule, load_all


def unreached(results: list[dict[str, Any]], profile: str) -> list[dict[str, str]]:
    """One entry per declared rule no check of this run evaluated: {rule, severity, why}."""
    reached: set[str] = set()
    for result in results:
        details = result.get("details") or {}
        if result["outcome"] != "inconclusive":
            reached.update(details.get("rules") or [])
        for each in details.get("deviations") or [details]:
            if each.get("rule"):
                reached.add(each["rule"])
    missing = [rule for rule in load_all() if rule.id not in reached]
    return [
        {"rule": rule.id, "severity": str(rule.severity), "why": _why(rule, results, profile)}
        for rule in missing
    ]


def _why(rule: Rule, results: list[dict[str, Any]], profile: str) -> str:
    if rule.profile and not specs.has_profile(profile, rule.profile):
        return f"{rule.profile} profile only (--profile {rule.profile})"
    module = rule.module.rsplit(".", 1)[-1]
    own = [r for r in results if _module_of(r["test_id"]) == module]
    if module.startswith("test_") and not own:
        return f"{module} was not selected (preset or -k)"
    checks = own or results
    failed = [r["test_id"] for r in checks if r["outcome"] in ("failed", "known")]
    shed = [r["test_id"] for r in checks if r["outcome"] == "inconclusive"]
    skipped = [r for r in checks if r["outcome"] == "skipped"]
    if own and len(skipped) == len(own):
        return f"skipped: {_first_line(skipped[0].get('reason') or '')}"
    if failed and own:
        return f"possibly stopped early by another failure ({_some(failed)})"
    if shed:
        return f"its checks were inconclusive, load shed ({_some(shed)})"
    if failed:
        return "no check reached it; failures may have stopped the checks that would"
    return "no check of this run evaluated it (conditions it applies to did not arise)"


def _module_of(test_id: str) -> str:
    return test_id.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")


def _some(test_ids: list[str]) -> str:
    names = [t.split("::")[-1] for t in test_ids]
    return ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")


def _first_line(text: str) -> str:
    return (str(text).strip().splitlines() or [""])[0][:160]
