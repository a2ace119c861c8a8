"""The harness under hostile servers: how the suite's client answers each attack, and what the
whole suite run against it costs (wall time, peak RSS from wait4)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.compliance._hostile_runs import probe, run_suite
from tests.compliance._hostile_servers import CASES, Case

from ._plan import Plan

MAX_RSS_MIB = 500
PRESET = "extended"  # the suite's default: fuzzing and the SDK tests included


def run(plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    timeout = plan.hostile_request_timeout_s

    def one(case: Case) -> dict[str, Any]:
        seen = probe(case, timeout)
        suite = run_suite(case, preset=PRESET, request_timeout=timeout)
        log(f"hostile {case.name}: {suite.summary} in {suite.seconds:.0f} s")
        return {
            "case": case.name,
            "what": case.what,
            "plain": seen.plain,
            "plain_s": round(seen.plain_s, 2),
            "stream": seen.stream,
            "stream_s": round(seen.stream_s, 2),
            "suite_exit_code": suite.exit_code,
            "suite_ended_by_itself": suite.ended_by_itself,
            "suite_s": round(suite.seconds, 1),
            "suite_max_rss_mib": round(suite.max_rss_bytes / 2**20, 1),
            "suite_summary": suite.summary,
            "suite_failures": len(suite.failures),
            "suite_rules": dict(suite.rules().most_common(4)),
            "suite_failures_without_rule": [test for test, _ in suite.without_rule()],
        }

    with ThreadPoolExecutor(plan.hostile_runs_at_once) as pool:
        cases = list(pool.map(one, CASES.values()))
    return {
        "request_timeout_s": timeout,
        "preset": PRESET,
        "cases": cases,
        "all_ended": all(c["suite_ended_by_itself"] for c in cases),
        "max_rss_mib": max(c["suite_max_rss_mib"] for c in cases),
        "longest_suite_s": max(c["suite_s"] for c in cases),
    }
