"""Run the suite against a catalogue of realistic broken servers: each bug must be caught by the
expected check, and each control (legal variation) must pass. Servers whose answers say nothing
must fail every check that reads what an answer says (no vacuous pass)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _compliance_blind_spots import CASES as BLIND_SPOTS
from _compliance_catalogue import CASES as SEEN
from _compliance_catalogue import Case
from _compliance_catalogue_openresponses import OPENRESPONSES_CASES
from _compliance_catalogue_reasoning import REASONING_CASES
from _compliance_catalogue_responses import RESPONSES_CASES
from _compliance_catalogue_verdicts import VERDICT_CASES
from _compliance_empty import EMPTY_CASES, NOT_AUDITED
from _compliance_proxy import MutatingProxy

# `make test-fast` leaves it out; the catalogue runs the suite once per broken server, so the
# module's fixture gets the time that needs, not pytest's default (each run has its own deadline).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PARALLEL = 3  # suite runs at once; each is mostly waiting on the tiny model
RUN_TIMEOUT_S = 300
CASES = (
    *SEEN,
    *BLIND_SPOTS,
    *RESPONSES_CASES,
    *OPENRESPONSES_CASES,
    *REASONING_CASES,
    *EMPTY_CASES,
    *VERDICT_CASES,
)
# Broken servers whose right verdict is "inconclusive" (shed load), not a failure.
SHED_CASES = [c for c in CASES if c.extra.get("verdict") == "inconclusive"]
# The suite's own plugin loads from its conftest; the other installed plugins (hypothesis,
# schemathesis, respx...) would cost each of the hundred-odd runs most of a second to import.
SUITE_ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
# Skips a broken server may legitimately cause: options the run did not give, features it lacks.
NOT_A_DODGE = ("need --api-key", "fuzzing disabled", "need --profile")


def run_suite(base_url: str, case: Case, report_dir: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "pytest", "compliance", "-q", "-p", "no:cacheprovider",
        "-p", "no:randomly", "--base-url", base_url, "--preset", "extended",
        "--fuzz-examples", "0", "--report", str(report_dir), "-k", case.target, *case.args,
    ]  # fmt: skip
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
            env=SUITE_ENV,
        )
        code, output = proc.returncode, proc.stdout[-3000:] + proc.stderr[-2000:]
    except subprocess.TimeoutExpired:  # this case fails; the others still report
        code, output = None, f"the suite run did not finish in {RUN_TIMEOUT_S} s"
    report = report_dir / "report.json"
    data = json.loads(report.read_text()) if report.exists() else {"results": []}
    data["exit_code"] = code
    data["output"] = output
    data["seconds"] = round(time.monotonic() - started, 1)
    return data


def _run_case(upstream: str, case: Case, tmp: Path) -> dict[str, Any]:
    with MutatingProxy(upstream, case.mutation) as proxy:
        return run_suite(proxy.base_url, case, tmp / case.name)


@pytest.fixture(scope="module")
def outcomes(base_url: str, request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    upstream = base_url.rstrip("/")
    # Only the servers whose tests were selected (-k), so one case can be rerun on its own.
    chosen = {
        item.callspec.params["case"].name
        for item in request.session.items
        if hasattr(item, "callspec") and "case" in item.callspec.params
    }
    with (
        tempfile.TemporaryDirectory(prefix="inferno-catalogue-") as tmp,
        ThreadPoolExecutor(PARALLEL) as pool,
    ):
        futures = {
            c.name: pool.submit(_run_case, upstream, c, Path(tmp))
            for c in CASES
            if c.name in chosen
        }
        results = {name: f.result() for name, f in futures.items()}
    _record_detection_rate(results)
    return results


def _caught(case: Case, data: dict[str, Any]) -> bool:
    failures = [r for r in data["results"] if r["outcome"] == "failed"]
    # A check that met several faults lists each (`deviations`); the first is in `rule`.
    rules = [
        d.get("rule") or r["reason"]
        for r in failures
        for d in r["details"].get("deviations") or [r["details"]]
    ]
    return any(rule.startswith(case.rule) for rule in rules) or any(
        f"[{case.rule}" in r["reason"] for r in failures
    )


def _record_detection_rate(results: dict[str, dict[str, Any]]) -> None:
    broken = [c for c in CASES if not c.control and c.name in results]
    caught = sum(_caught(c, results[c.name]) for c in broken)
    print(f"\ncatalogue: {caught}/{len(broken)} deviations caught by the expected check")
    slowest = sorted(results.items(), key=lambda kv: -kv[1]["seconds"])[:5]
    print("slowest runs: " + ", ".join(f"{name} {data['seconds']} s" for name, data in slowest))


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.control and c not in SHED_CASES], ids=lambda c: c.name
)
def test_deviation_is_caught(case: Case, outcomes: dict[str, dict[str, Any]]) -> None:
    data = outcomes[case.name]
    failures = [
        f"{r['test_id']}: {(r['details'].get('rule') or r['reason'])[:120]}"
        for r in data["results"]
        if r["outcome"] == "failed"
    ]
    assert data["exit_code"] == 1, (
        f"suite exit {data['exit_code']} for {case.name}:\n{data['output']}"
    )
    assert _caught(case, data), (
        f"{case.name} ({case.source}) not caught by rule {case.rule!r}; failures: {failures}\n"
        f"{data['output']}"
    )
    # No check of the broken rule may pass by skipping: a deviation is never a precondition.
    dodged = [
        f"{r['test_id']}: {r['reason'][:160]}"
        for r in data["results"]
        if r["outcome"] == "skipped" and not any(n in r["reason"] for n in NOT_A_DODGE)
    ]
    assert not dodged, f"{case.name}: checks skipped on a broken server: {dodged}"
    expected = case.extra.get("deviations")
    if expected is not None:
        found = data.get("deviations", [])
        assert len(found) == expected, (
            f"{case.name}: one root cause must be {expected} deviation(s), got "
            f"{[(d['rule'], d['cause'], len(d['checks'])) for d in found]}"
        )
        assert expected != 1 or len(found[0]["checks"]) > 1, "one cause, several checks"
    rows = [(d["rule"], d["cause"]) for d in data.get("deviations", [])]
    for rule, fragment in case.extra.get("deviations_seen", []):
        assert any(r == rule and fragment in cause for r, cause in rows), (
            f"{case.name}: no row {rule} ({fragment!r}); every fault one check met is reported: "
            f"{rows}"
        )


@pytest.mark.parametrize("case", SHED_CASES, ids=lambda c: c.name)
def test_shed_load_is_inconclusive_not_failed(
    case: Case, outcomes: dict[str, dict[str, Any]]
) -> None:
    data = outcomes[case.name]
    failed = [r["test_id"] for r in data["results"] if r["outcome"] == "failed"]
    shed = [r for r in data["results"] if r["outcome"] == "inconclusive"]
    assert not failed, f"{case.name}: shed load reported as failures: {failed}\n{data['output']}"
    assert shed, f"{case.name}: no check reported inconclusive:\n{data['output']}"
    assert all("Retry-After" in r["reason"] for r in shed), [r["reason"] for r in shed]
    assert data["exit_code"] == case.extra["exit_code"], data["output"]
    assert data["summary"]["inconclusive"] == len(shed)
    assert data["notices"] and "SHED" in data["notices"][0], data["notices"]


@pytest.mark.parametrize("case", [c for c in CASES if c.control], ids=lambda c: c.name)
def test_control_passes(case: Case, outcomes: dict[str, dict[str, Any]]) -> None:
    data = outcomes[case.name]
    passed = [r for r in data["results"] if r["outcome"] == "passed"]
    assert data["exit_code"] == 0 and passed, (
        f"control {case.name} ({case.source}) failed:\n{data['output']}"
    )


@pytest.mark.parametrize("case", EMPTY_CASES, ids=lambda c: c.name)
def test_no_check_passes_an_answer_that_says_nothing(
    case: Case, outcomes: dict[str, dict[str, Any]]
) -> None:
    """Every check but those that read nothing an answer says fails: none passes on an empty
    answer, whatever module it is in (new checks are audited as they are added)."""
    results = outcomes[case.name]["results"]
    allowed = tuple(case.extra["may_pass"])
    vacuous = [
        r["test_id"]
        for r in results
        if r["outcome"] == "passed" and not r["test_id"].startswith(allowed)
    ]
    assert not vacuous, f"{case.name}: checks passed on answers that say nothing: {vacuous}"
    ran = {r["test_id"] for r in results}
    unknown = [a for a in allowed if not any(test.startswith(a) for test in ran)]
    assert not unknown, f"{case.name}: the allowed list names checks that did not run: {unknown}"
    audited = {p.name for p in (ROOT / "compliance").glob("test_*.py")} - {
        f"{module}.py" for module in NOT_AUDITED
    }
    modules = {test.split("::")[0] for test in ran}
    assert audited <= modules, f"{case.name}: no check ran in {sorted(audited - modules)}"
