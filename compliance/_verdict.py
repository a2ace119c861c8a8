"""The verdict of a run by root cause: failures grouped into deviations, and a severity-weighted
score beside the raw check counts.

A deviation is one (rule, cause): a missing `message.refusal` fails every check that reads a chat
completion, but it is one thing to fix, so it is one row listing the checks it broke. The score
weighs rules, not checks: every rule a run exercised counts its severity's weight (breaks-clients
3, contract 2, strict 1), and a rule with any deviation loses it.
"""

from __future__ import annotations

import shlex
from typing import Any

from compliance._endpoints import UNRESPONSIVE
from compliance.rules import Rule, Severity, load_all

UNCLASSIFIED = "unclassified"
# Rules that explain other failures (an endpoint that stopped answering): reported first.
ROOT_CAUSES = (UNRESPONSIVE.id,)


def _rules() -> dict[str, Rule]:
    return {rule.id: rule for rule in load_all()}


def deviations(results: list[dict[str, Any]], base_url: str | None = None) -> list[dict[str, Any]]:
    """One entry per root cause, most severe first, each listing the checks it broke."""
    known = _rules()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for result, details in _failures(results):
        rule_id = details.get("rule") or UNCLASSIFIED
        rule = known.get(rule_id)
        cause = details.get("cause") or (
            rule_id if rule else _first_line(result.get("reason") or "failed")
        )
        entry = groups.setdefault(
            (rule_id, cause),
            {
                "rule": rule_id,
                "severity": str(rule.severity) if rule else str(Severity.CONTRACT),
                "reason": rule.reason if rule else "a check failed outside the rule registry",
                "cause": cause,
                "message": _first_line(details.get("message") or result.get("reason") or ""),
                "clients": list(rule.clients) if rule else [],
                "checks": [],
                "known": True,
                "request": details.get("request"),
                "status": details.get("status"),
                "reproduce": reproduce({**result, "details": details}, base_url),
            },
        )
        if result["test_id"] not in entry["checks"]:
            entry["checks"].append(result["test_id"])
        entry["known"] = entry["known"] and result["outcome"] == "known"
    order = [s.value for s in Severity]
    return sorted(
        groups.values(),
        key=lambda d: (
            d["rule"] not in ROOT_CAUSES,  # they explain the rest: listed first
            order.index(d["severity"]),
            -len(d["checks"]),
            d["rule"],
        ),
    )


def _failures(results: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(result, details) per deviation a failed check found: a check that went on after a soft
    failure (a schema violation) reports each deviation it saw."""
    found = []
    for result in results:
        if result["outcome"] not in ("failed", "known"):
            continue
        details = result.get("details") or {}
        for each in details.get("deviations") or [details]:
            found.append((result, each))
    return found


def score(results: list[dict[str, Any]], found: list[dict[str, Any]]) -> dict[str, Any]:
    """Raw check counts, and the share of exercised rules (weighted by severity) that hold."""
    known = _rules()
    counted = [r for r in results if r["outcome"] in ("passed", "failed", "known")]
    passed = sum(r["outcome"] == "passed" for r in counted)
    exercised: set[str] = set()
    for result in results:
        if result["outcome"] == "inconclusive":
            continue  # shed load: nothing it evaluated was judged
        exercised.update((result.get("details") or {}).get("rules") or [])
    for _, details in _failures(results):
        if details.get("rule"):
            exercised.add(details["rule"])
    broken = {d["rule"] for d in found}
    weight = {rid: known[rid].severity.weight for rid in exercised if rid in known}
    for rid in broken - set(weight):  # unclassified failures weigh as contract
        weight[rid] = Severity.CONTRACT.weight
    total = sum(weight.values())
    holding = sum(w for rid, w in weight.items() if rid not in broken)
    by_severity = {s.value: 0 for s in Severity}
    for deviation in found:
        by_severity[deviation["severity"]] += 1
    return {
        "checks_passed": passed,
        "checks_applicable": len(counted),
        "check_score": round(100.0 * passed / len(counted), 1) if counted else None,
        "rules_exercised": len(weight),
        "rules_broken": len(broken),
        "weighted_score": round(100.0 * holding / total, 1) if total else None,
        "deviations": len(found),
        "deviations_by_severity": by_severity,
        "inconclusive": sum(r["outcome"] == "inconclusive" for r in results),
    }


def reproduce(result: dict[str, Any], base_url: str | None) -> str:
    """The failing request as curl, or the suite command that reruns the check."""
    details = result.get("details") or {}
    if details.get("curl"):
        return str(details["curl"])
    test_id = result["test_id"]
    name = test_id.split("::")[-1]
    function, _, param = name.partition("[")
    selector = function + (f" and {param.rstrip(']')}" if param else "")
    parts = ["pytest", "--pyargs", "compliance", "--base-url", base_url or "URL", "-k", selector]
    return " ".join(shlex.quote(p) for p in parts)


def _first_line(text: str) -> str:
    return (str(text).strip().splitlines() or [""])[0][:300]
