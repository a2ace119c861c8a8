"""Headless runs against the scripted loopback server: accuracy, failures, shed, gates, sweep."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from locust_runner import locust_workers, run_locust
from sse_fixture import FIRST_TOKEN_S, ITL_S, TOKENS, FixtureServer

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

TOLERANCE_MS = 5.0


@pytest.mark.serial  # 5 ms accuracy: `make test` runs it alone, after the parallel part
@pytest.mark.parametrize("user_class", ["StreamingChatUser", "CompletionUser"])
def test_ttft_and_itl_match_injected_delays(
    fixture_server: FixtureServer, prompts, tmp_path: Path, user_class: str
) -> None:
    fixture_server.truth.clear()
    run = run_locust(
        fixture_server.base_url,
        user_class,
        "-u", "1", "-t", "3",
        "--prompts", prompts("delay"),
        "--slo", "ttft_p95_ms=1000,itl_p95_ms=100,error_rate=0",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    assert run.returncode == 0, run.output
    m = run.summary["metrics"]
    # Truth is what the server really spent (its sleeps overshoot on a busy machine); it must
    # itself be close to the injected delays for the test to mean anything.
    truth_ttft = statistics.mean(fixture_server.truth["ttft"])
    truth_itl = statistics.mean(fixture_server.truth["itl"])
    if not (
        abs(truth_ttft - FIRST_TOKEN_S * 1000) < 3 * TOLERANCE_MS
        and abs(truth_itl - ITL_S * 1000) < 3 * TOLERANCE_MS
    ):
        pytest.skip(
            f"the machine is too busy to time 5 ms: the fixture's own sleeps took "
            f"{truth_ttft:.1f} / {truth_itl:.1f} ms for {FIRST_TOKEN_S * 1000:.0f} / "
            f"{ITL_S * 1000:.0f} ms"
        )
    # The role chunk arrives at once; TTFT must wait for the first real token.
    assert abs(m["ttft_ms"]["mean"] - truth_ttft) < TOLERANCE_MS, (m["ttft_ms"], truth_ttft)
    assert abs(m["itl_ms"]["mean"] - truth_itl) < TOLERANCE_MS, (m["itl_ms"], truth_itl)
    assert abs(m["tpot_ms"]["mean"] - truth_itl) < TOLERANCE_MS, (m["tpot_ms"], truth_itl)
    # E2E = TTFT + the gaps + the short tail of finish/usage/[DONE] events.
    e2e_parts = m["ttft_ms"]["mean"] + (TOKENS - 1) * m["itl_ms"]["mean"]
    assert 0 <= m["e2e_ms"]["mean"] - e2e_parts < TOLERANCE_MS
    ok = run.summary["requests"]["ok"]
    assert ok >= 3 and m["itl_ms"]["count"] == ok * (TOKENS - 1)
    assert run.summary["tokens"]["output"] == ok * TOKENS
    assert run.summary["slo"]["passed"] is True


def test_broken_streams_fail_and_shed_is_separate(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    before = dict(fixture_server.requests)
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "-u", "4", "-r", "4", "-t", "3",
        "--prompts", prompts("truncated", "nofinish", "abort", "shed"),
        summary=tmp_path / "s.json",
    )  # fmt: skip
    served = {k: v - before.get(k, 0) for k, v in fixture_server.requests.items()}
    req = run.summary["requests"]
    assert req["ok"] == 0, run.summary["errors_by_reason"]
    assert req["errors"] == served["truncated"] + served["nofinish"] + served["abort"]
    assert req["shed"] == served["shed"] > 0
    # Shed answers are not latency samples, and Retry-After: 1 bounds how often a user retries.
    assert run.summary["metrics"]["e2e_ms"]["count"] == 0
    assert req["shed"] <= 4 * 4
    reasons = " | ".join(run.summary["errors_by_reason"])
    expected = {
        "truncated": "without [DONE]",
        "nofinish": "without a finish_reason",
        "abort": "connection closed",
    }
    for mode, reason in expected.items():
        if served.get(mode):
            assert reason in reasons, reasons
    assert run.returncode != 0  # failures without --slo: Locust's own non-zero exit


def test_slo_violation_exits_non_zero_with_message(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "-u", "1", "-t", "2",
        "--prompts", prompts("delay"),
        "--slo", "ttft_p95_ms=100,itl_p95_ms=100,e2e_p95_ms=50",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    assert run.returncode == 3
    slo = run.summary["slo"]
    assert slo["passed"] is False
    assert [v.split(":")[0] for v in slo["violations"]] == ["ttft_p95_ms", "e2e_p95_ms"]
    assert "SLO violated" in run.output and "ttft_p95_ms" in run.output


def test_sweep_finds_the_saturation_point(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    # The "queue" behaviour delays the first token by 100 ms per request in flight.
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "--shape", "sweep", "-u", "8", "--sweep-start", "1", "--sweep-step-time", "2.5",
        "--prompts", prompts("queue"),
        "--slo", "ttft_p95_ms=290",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    shape = run.summary["shape"]
    assert [s["users"] for s in shape["steps"]] == [1, 2, 4], shape
    assert shape["saturation"]["users"] == 2
    assert shape["saturation"]["requests_per_s"] > 0
    assert run.returncode == 0, run.output  # a saturation point was found


@pytest.mark.serial  # 5 ms accuracy of TTFT p50: run alone
def test_master_and_worker_on_loopback(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    # The worker gets no custom arguments: it must take --prompts and --model from the master.
    before = dict(fixture_server.requests)
    with locust_workers(1) as master:
        run = run_locust(
            fixture_server.base_url,
            "StreamingChatUser", *master,
            "-u", "2", "-t", "3", "--model", "fixture", "--prompts", prompts("delay"),
            summary=tmp_path / "s.json",
        )  # fmt: skip
    now = fixture_server.requests
    served = {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k)}
    assert run.returncode == 0, run.output[-3000:]
    assert set(served) == {"delay"}
    assert run.summary["requests"]["ok"] == served["delay"]
    assert run.summary["worker_reports"] >= 1
    assert abs(run.summary["metrics"]["ttft_ms"]["p50"] - FIRST_TOKEN_S * 1000) < TOLERANCE_MS
