"""The harness under hostile servers: each attack ends within the exchange's deadline, is
reported by the rule that names it, and the suite run against it stays under 500 MB."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compliance._client import ApiClient
from tests.compliance._hostile_runs import SuiteRun, probe, run_suite
from tests.compliance._hostile_servers import CASES, MODEL_ID, HostileServer

DEADLINE_S = 0.5
MAX_RSS_BYTES = 500 * 1024**2
SUITE_RUNS_AT_ONCE = 4  # each run mostly waits on its server's deadlines
SDK_TESTS = "test_sdk"

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out: hostile server processes


def test_at_least_ten_attacks() -> None:
    assert len(CASES) >= 10


@pytest.mark.serial  # reads up to 32 MiB within a 0.5 s deadline: run alone
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_client_names_each_attack(name: str) -> None:
    case = CASES[name]
    seen = probe(case, DEADLINE_S)
    assert case.plain in seen.plain, seen
    assert case.expected_for_stream in seen.stream, seen


def test_a_redirect_is_reported_not_followed() -> None:
    with HostileServer(CASES["redirect-loop"]) as server:
        client = ApiClient(server.base_url, None, DEADLINE_S)
        exchange = client.post("/chat/completions", {"model": MODEL_ID, "messages": []})
        client.close()
    assert exchange.status == 307, exchange.describe()
    assert "does not follow redirects" in exchange.describe()
    assert server.requests == 1  # the redirect was not followed


@pytest.fixture(scope="module")
def suite_runs() -> dict[str, SuiteRun]:
    with ThreadPoolExecutor(SUITE_RUNS_AT_ONCE) as pool:
        runs = pool.map(lambda case: run_suite(case, request_timeout=1.0), CASES.values())
        return {run.case: run for run in runs}


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_suite_survives_each_attack(suite_runs: dict[str, SuiteRun], name: str) -> None:
    run = suite_runs[name]
    assert run.ended_by_itself, f"killed at its deadline:\n{run.output}"
    # Exit code 1 means "tests failed": the suite ran to the end and reported them.
    assert run.exit_code == 1, run.output
    assert " failed" in run.summary, run.summary
    assert run.max_rss_bytes < MAX_RSS_BYTES, f"{run.max_rss_bytes / 2**20:.0f} MB"
    assert run.failures, run.output
    # Every failure names its rule; the SDK tests report what the openai SDK raised.
    unnamed = [(test, message) for test, message in run.without_rule() if SDK_TESTS not in test]
    assert not unnamed, unnamed


@pytest.mark.timeout(900)
def test_the_default_preset_survives_a_compression_bomb() -> None:
    # Fuzzing and the openai SDK tests too: every client of the suite reads within the limits.
    run = run_suite(CASES["gzip-bomb"], preset="extended", request_timeout=1.0)
    assert run.exit_code == 1, run.output
    assert run.max_rss_bytes < MAX_RSS_BYTES, f"{run.max_rss_bytes / 2**20:.0f} MB"
    assert run.rules()["transport.decoded-size-limit"] > 0, run.rules()


# The run waits at most two deadlines per endpoint family (nine here, the unknown route and
# GET /models/{id} included), plus pytest's own start and the checks that need no answer.
HUNG_DEADLINE_S = 4.0
HUNG_RUN_LIMIT_S = 120.0


@pytest.mark.timeout(400)
def test_a_hung_server_is_diagnosed_within_two_minutes(tmp_path: Path) -> None:
    # POST routes whose headers never finish: two expiries in a row on a family (one on each
    # family after that), then every check of the family fails at once under one root cause.
    run = run_suite(
        CASES["trickle-headers"],
        preset="extended",
        request_timeout=HUNG_DEADLINE_S,
        run_timeout=3 * HUNG_RUN_LIMIT_S,
        extra_args=("-rN", "--report", str(tmp_path)),  # -rN: the summary ends the output
    )
    assert run.ended_by_itself, f"killed at its deadline:\n{run.output}"
    assert run.seconds < HUNG_RUN_LIMIT_S, f"{run.seconds:.0f} s:\n{run.output}"
    assert run.exit_code == 1, run.output
    rules = run.rules()
    assert rules.most_common(1)[0][0] == "endpoint.unresponsive", rules
    summary = run.output[run.output.index("Inferno compliance summary") :]
    assert summary.index("ENDPOINT UNRESPONSIVE") < summary.index("server http://"), summary
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["notices"][0].startswith("ENDPOINT UNRESPONSIVE"), report["notices"]
    assert report["deviations"][0]["rule"] == "endpoint.unresponsive", report["deviations"][0]
