"""The harness under hostile servers: each attack ends within the exchange's deadline, is
reported by the rule that names it, and the suite run against it stays under 500 MB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
