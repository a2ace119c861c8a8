"""Aggregates results (in the xdist controller too), prints the summary, writes report files."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from compliance import _baseline, _coverage, _render, _verdict
from compliance._endpoints import UNRESPONSIVE
from compliance._options import Settings
from compliance._transport import bounded_client

# Marks the reports of the suite's own tests (set at collection by the plugin).
SUITE_PROPERTY = "compliance_suite_test"  # not inferno_*: those are failure details
# Feature area of each test module, in display order.
AREAS = {
    "test_models": "models",
    "test_chat": "chat",
    "test_completions": "completions",
    "test_streaming": "streaming",
    "test_embeddings": "embeddings",
    "test_responses": "responses",
    "test_responses_stream": "responses",
    "test_responses_store": "responses",
    "test_responses_errors": "responses",
    "test_responses_sdk": "responses",
    "test_responses_ws": "responses",
    "test_responses_compact": "responses",
    "test_errors": "errors",
    "test_sdk": "sdk",
    "test_tools": "tools",
    "test_context": "context",
    "test_fuzz": "fuzz",
    "test_transport": "transport",
    "test_clients": "clients",
}


@dataclass
class Result:
    test_id: str
    area: str
    outcome: str  # passed | failed | skipped | known (baseline) | inconclusive (shed load)
    duration: float = 0.0
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)  # rules the check evaluated


def area_of(test_id: str) -> str:
    module = test_id.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return AREAS.get(module, module.removeprefix("test_"))


class Collector:
    """A pytest plugin object; registered only where results are aggregated."""

    def __init__(self, settings: Settings, baseline: _baseline.Baseline) -> None:
        self.settings = settings
        self.baseline = baseline
        self.results: dict[str, Result] = {}
        self.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not any(key == SUITE_PROPERTY for key, _ in report.user_properties):
            return
        test_id = _baseline.key(report.nodeid)
        details = {
            k.removeprefix("inferno_"): v
            for k, v in report.user_properties
            if isinstance(k, str) and k.startswith("inferno_")
        }
        result = self.results.setdefault(test_id, Result(test_id, area_of(test_id), "passed"))
        result.duration = round(result.duration + report.duration, 3)
        if "rules" in details:
            result.rules = details.pop("rules")
        if result.outcome in ("failed", "known"):
            return  # a passing teardown must not hide a failure of an earlier phase
        if "inconclusive" in details:
            result.outcome, result.reason = "inconclusive", _skip_reason(report)
        elif str(getattr(report, "wasxfail", "")).startswith("known failure"):
            result.outcome, result.reason = "known", str(report.wasxfail)
        elif report.failed:
            result.outcome, result.reason = "failed", _failure_text(report)
        elif report.skipped:
            result.outcome, result.reason = "skipped", _skip_reason(report)
        else:
            return
        result.details = details

    # -- summary ---------------------------------------------------------------------------

    def matrix(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for result in self.results.values():
            row = table.setdefault(
                result.area,
                {"passed": 0, "failed": 0, "skipped": 0, "known": 0, "inconclusive": 0},
            )
            row[result.outcome] = row.get(result.outcome, 0) + 1
        order = list(AREAS.values())
        return dict(sorted(table.items(), key=lambda kv: (_index(order, kv[0]), kv[0])))

    def verdict(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        results = [_as_dict(r) for r in self.results.values()]
        found = _verdict.deviations(results, self.settings.base_url)
        return found, _verdict.score(results, found)

    def unreached(self) -> list[dict[str, str]]:
        return _coverage.unreached(
            [_as_dict(r) for r in self.results.values()], self.settings.profile
        )

    def notices(self, found: list[dict[str, Any]]) -> list[str]:
        """What the reader must know before any row: the verdict may not be about rules."""
        lines = []
        for deviation in found:
            if deviation["rule"] == UNRESPONSIVE.id:
                lines.append(
                    f"ENDPOINT UNRESPONSIVE: the {deviation['cause'].split(': ', 1)[-1]} "
                    "endpoints let their deadline pass without an answer, again and again; "
                    f"{len(deviation['checks'])} checks failed at once without waiting (the rows "
                    "below may follow from it)"
                )
        shed = sum(r.outcome == "inconclusive" for r in self.results.values())
        judged = sum(r.outcome in ("passed", "failed", "known") for r in self.results.values())
        if shed and shed >= judged:
            lines.append(
                f"MOST CHECKS WERE SHED: {shed} inconclusive (429/503 with Retry-After beyond "
                f"the retry budget) against {judged} judged; rerun when the server has capacity"
            )
        elif shed:
            lines.append(f"{shed} checks inconclusive: the server shed load (429/503 Retry-After)")
        return lines

    def score(self) -> float | None:
        return self.verdict()[1]["check_score"]

    def fixed(self) -> list[str]:
        """Baseline entries that no longer fail (stale): rules that held, tests that passed."""
        return self.baseline.stale([_as_dict(r) for r in self.results.values()])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results or not self.settings.base_url:
            return
        tr = terminalreporter
        tr.section("Inferno compliance summary")
        found, summary = self.verdict()
        for notice in self.notices(found):
            tr.write_line(notice, red=True, bold=True)
        tr.write_line(
            f"server {self.settings.base_url}  preset {self.settings.preset}  "
            f"profile {self.settings.profile}"
        )
        tr.write_line(f"{'area':<14}{'pass':>6}{'fail':>6}{'skip':>6}{'known':>7}{'incon':>7}")
        for area, row in self.matrix().items():
            tr.write_line(
                f"{area:<14}{row['passed']:>6}{row['failed']:>6}{row['skipped']:>6}"
                f"{row['known']:>7}{row['inconclusive']:>7}"
            )
        tr.write_line(
            f"checks: {summary['checks_passed']}/{summary['checks_applicable']} pass "
            f"({_pct(summary['check_score'])}); rules: {_pct(summary['weighted_score'])} hold, "
            f"weighted by severity; deviations: {summary['deviations']}"
        )
        for deviation in found:
            count = len(deviation["checks"])
            cause = "" if deviation["cause"] == deviation["rule"] else f": {deviation['cause']}"
            tr.write_line(
                f"  [{deviation['severity']}] {deviation['rule']}{cause} "
                f"({count} check{'s' if count != 1 else ''})",
                red=deviation["severity"] == "breaks-clients",
            )
        missing = self.unreached()
        if missing:
            tr.write_line(
                f"rules not reached: {len(missing)} of {summary['rules_exercised'] + len(missing)}"
            )
            for why, rules in _by_reason(missing).items():
                shown = ", ".join(rules[:6]) + (
                    f" and {len(rules) - 6} more" if len(rules) > 6 else ""
                )
                tr.write_line(f"  {why}: {shown}")
        for test_id in self.fixed():
            tr.write_line(f"fixed, remove from baseline: {test_id}", yellow=True)
        if self.settings.report_dir:
            tr.write_line(f"report: {Path(self.settings.report_dir).resolve() / 'report.html'}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.settings.base_url:
            return
        inconclusive = any(r.outcome == "inconclusive" for r in self.results.values())
        if inconclusive and session.exitstatus == pytest.ExitCode.OK:
            # Shed load is not a verdict: passing is the default, a gate may ask for a code.
            session.exitstatus = self.settings.inconclusive_exit
        if self.settings.update_baseline and self.settings.baseline:
            failures = [
                _baseline.Failure(
                    r.test_id, d.get("rule"), _first_line(d.get("message") or r.reason)
                )
                for r in self.results.values()
                if r.outcome in ("failed", "known")
                for d in r.details.get("deviations") or [r.details]  # every fault it met
            ]
            _baseline.write(self.settings.baseline, failures, self.baseline)
        if self.settings.report_dir:
            self.write(Path(self.settings.report_dir))

    def data(self) -> dict[str, Any]:
        found, summary = self.verdict()
        base = self.settings.base_url
        settings = {
            k: (sorted(v) if isinstance(v, frozenset) else v)
            for k, v in asdict(self.settings).items()
            if k not in ("api_key", "errors")
        }
        return {
            "server": server_info(self.settings),
            "settings": settings,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "score": summary["check_score"],
            "notices": self.notices(found),
            "summary": summary,
            "deviations": found,
            "unreached": self.unreached(),
            "matrix": self.matrix(),
            "fixed_baseline_entries": self.fixed(),
            "results": [
                {**_as_dict(r), "reproduce": _verdict.reproduce(_as_dict(r), base)}
                if r.outcome in ("failed", "known")
                else _as_dict(r)
                for r in sorted(self.results.values(), key=lambda r: r.test_id)
            ],
        }

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        data = self.data()
        (directory / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        (directory / "report.md").write_text(_render.markdown(data))
        (directory / "report.html").write_text(_render.html(data))


def server_info(settings: Settings) -> dict[str, Any]:
    """Best-effort facts about the server; a broken server must not break the report."""
    info: dict[str, Any] = {"base_url": settings.base_url}
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    try:
        with bounded_client(min(5.0, settings.request_timeout)) as http:  # any server
            response = http.get(f"{settings.base_url}/models", headers=headers)
            info["server_header"] = response.headers.get("server")
            models = response.json().get("data", [])
            info["models"] = [m.get("id") for m in models if isinstance(m, dict)][:20]
    except Exception as exc:  # the report must still be written
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def _as_dict(result: Result) -> dict[str, Any]:
    data = asdict(result)
    data["details"] = {**data["details"], "rules": data.pop("rules")}
    return data


def _by_reason(missing: list[dict[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for entry in missing:
        grouped.setdefault(entry["why"], []).append(entry["rule"])
    return grouped


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value}%"


def _index(order: list[str], area: str) -> int:
    return order.index(area) if area in order else len(order)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["failing"])[0][:200]


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text[:4000]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")
