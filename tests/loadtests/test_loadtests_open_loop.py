"""Open loop, goodput, rate sweep, conversations and reasoning, against the scripted server."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from arrival_checks import gaps, looks_exponential
from locust_runner import locust_workers, run_locust
from sse_fixture import CAPACITY_SERVICE_S, ITL_S, REASONING_TOKENS, TOKENS, FixtureServer

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


def served_since(server: FixtureServer, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in server.requests.items() if v != before.get(k)}


@pytest.mark.parametrize("processes", [1, 2])
def test_poisson_arrivals_match_the_target_rate_and_distribution(
    fixture_server: FixtureServer, prompts, tmp_path: Path, processes: int
) -> None:
    rate, seconds = 20.0, 6
    fixture_server.forget()
    extra = ["--processes", str(processes)] if processes > 1 else []
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser", *extra,
        "--arrival", "poisson", "--rate", str(rate), "--seed", "7", "-t", str(seconds),
        "--prompts", prompts("delay"),
        summary=tmp_path / "s.json",
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    arrivals, requests = run.summary["arrivals"], run.summary["requests"]
    received = fixture_server.arrivals
    # Every arrival is accounted for, and what was sent is what the server received.
    assert arrivals["due"] == arrivals["sent"] + arrivals["dropped"]
    assert arrivals["sent"] == requests["ok"] == len(received)
    assert arrivals["dropped"] == 0 and arrivals["process"] == "poisson"
    assert run.summary["seed"] == 7
    # The rate: a Poisson count over the run, within 4 standard deviations of rate x duration
    # (with 2 processes a rate not split over them would send twice as much and fail this).
    expected = rate * run.summary["duration_s"]
    assert abs(len(received) - expected) < 4 * math.sqrt(expected), (len(received), expected)
    # The distribution: the gaps the server saw between requests are exponential at the rate.
    assert looks_exponential(gaps(received), rate, alpha=0.001), sorted(gaps(received))[:10]


def test_external_workers_take_the_arrival_options_and_their_share_from_the_master(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    rate = 20.0
    fixture_server.forget()
    with locust_workers(2) as master:
        run = run_locust(
            fixture_server.base_url,
            "StreamingChatUser", *master,
            "--arrival", "poisson", "--rate", str(rate), "-t", "6", "--prompts", prompts("delay"),
            summary=tmp_path / "s.json",
            timeout=120,
        )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    received = fixture_server.arrivals
    assert run.summary["arrivals"]["sent"] == run.summary["requests"]["ok"] == len(received)
    assert run.summary["worker_reports"] >= 2
    expected = rate * run.summary["duration_s"]
    assert abs(len(received) - expected) < 4 * math.sqrt(expected), (len(received), expected)
    assert looks_exponential(gaps(received), rate, alpha=0.001)


def test_the_in_flight_cap_drops_and_counts_arrivals(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    before = dict(fixture_server.requests)
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "--arrival", "constant", "--rate", "20", "--max-in-flight", "2", "-t", "3",
        "--prompts", prompts("slowfirst"),
        summary=tmp_path / "s.json",
    )  # fmt: skip
    arrivals = run.summary["arrivals"]
    served = served_since(fixture_server, before)
    # Each request takes > 0.6 s, so two slots cannot carry 20 arrivals per second.
    assert arrivals["dropped"] > arrivals["sent"] > 0
    assert arrivals["sent"] == served["slowfirst"] == run.summary["requests"]["ok"]
    assert arrivals["not_on_time"] >= arrivals["dropped"]
    assert "dropped at the in-flight cap" in run.output


def test_goodput_counts_exactly_the_requests_within_the_objectives(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    # delay: within all; slowfirst: TTFT 600 ms; stall: one 300 ms gap (ITL p95 in the request
    # 188 ms); long: 40 tokens, E2E about 1 s.
    before = dict(fixture_server.requests)
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "--arrival", "constant", "--rate", "8", "-t", "4", "--seed", "3",
        "--prompts", prompts("delay", "slowfirst", "stall", "long"),
        "--slo", "ttft_ms=400,itl_ms=100,e2e_ms=800,min_goodput_ratio=0.9",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    served = served_since(fixture_server, before)
    good, requests = run.summary["goodput"], run.summary["requests"]
    assert set(served) == {"delay", "slowfirst", "stall", "long"}, served
    assert requests["ok"] == sum(served.values())
    assert good["requests"] == served["delay"]
    duration, window = run.summary["duration_s"], run.summary["window"]
    # Rates are what the load window produced: requests drained after its end count in part.
    partial = window["cut_off_at_end"] + window["drained_after_end"]
    good_tokens = good["output_tokens_per_s"] * duration
    assert (served["delay"] - partial) * TOKENS - 1e-6 <= good_tokens
    assert good_tokens <= served["delay"] * TOKENS + 1e-6
    assert good["ratio"] == pytest.approx(served["delay"] / requests["ok"])
    assert good["objectives"] == {"ttft_ms": 400, "itl_ms": 100, "e2e_ms": 800}
    # Beside the raw throughput, which counts every request.
    assert run.summary["throughput"]["requests_per_s"] * duration == pytest.approx(
        window["requests"]
    )
    assert requests["ok"] - partial <= window["requests"] <= requests["ok"]
    assert run.returncode == 3 and "min_goodput_ratio" in run.output  # about 25% good
    assert "goodput " in run.output and "within ttft_ms=400" in run.output


def test_rate_sweep_finds_the_knee_of_a_known_capacity(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    # "capacity" serves one request at a time for 0.1 s: about 10 requests/s at most.
    assert pytest.approx(0.1) == CAPACITY_SERVICE_S
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "--shape", "rate-sweep", "--arrival", "constant", "--rate", "4", "--sweep-step", "4",
        "--sweep-step-time", "3", "-t", "40", "--slo", "ttft_ms=250",
        "--prompts", prompts("capacity"),
        summary=tmp_path / "s.json",
        timeout=90,
    )  # fmt: skip
    shape = run.summary["shape"]
    assert [s["rate"] for s in shape["steps"]] == [4, 8, 12], shape
    assert shape["knee"]["rate"] == 8
    assert shape["knee"]["goodput_rps"] > 0.75 * 8
    # Below capacity a step produced what it was offered: its requests, each counted by the
    # share of its span inside the step's window (evenly spaced arrivals, 0.1 s each).
    assert shape["steps"][0]["requests_per_s"] == pytest.approx(4, rel=0.1), shape["steps"][0]
    last = shape["steps"][-1]
    assert not last["passed"] and last["goodput_rps"] < shape["knee"]["goodput_rps"]
    assert run.returncode == 0, run.output[-3000:]  # a knee was found
    assert "knee  8 req/s offered" in run.output


def test_distributed_rate_steps_count_what_the_workers_produced_in_each_window(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    # Two workers report every 3 s: a step judged before their reports are in, or on clocks
    # that do not line up with its arrivals, comes out far from its offered rate.
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "--shape", "rate-sweep", "--arrival", "constant", "--rate", "4", "--sweep-step", "4",
        "--sweep-step-time", "6", "-t", "19", "--processes", "2",
        "--prompts", prompts("capacity"),
        summary=tmp_path / "s.json",
        timeout=90,
    )  # fmt: skip
    steps = run.summary["shape"]["steps"]
    assert [s["rate"] for s in steps[:2]] == [4, 8], run.summary["shape"]
    for step in steps[:2]:
        assert step["passed"] and step["efficiency"] > 0.9, step
        assert step["requests_per_s"] == pytest.approx(step["rate"], rel=0.1), step
        assert step["due_per_s"] == pytest.approx(step["rate"], rel=0.1), step


def test_conversations_send_their_growing_history(
    fixture_server: FixtureServer, tmp_path: Path
) -> None:
    # ShareGPT conversations whose human turns pick the fixture's behaviour.
    conversations = [
        {"conversations": [
            {"from": "human", "value": f"delay {c}1"}, {"from": "gpt", "value": "x" * 40},
            {"from": "human", "value": f"delay {c}2"}, {"from": "gpt", "value": "y" * 80},
            {"from": "human", "value": f"delay {c}3"},
        ]}
        for c in "ab"
    ]  # fmt: skip
    dataset = tmp_path / "sharegpt.json"
    dataset.write_text(json.dumps(conversations))
    fixture_server.forget()
    fixture_server.prompt_cache = True
    try:
        run = run_locust(
            fixture_server.base_url,
            "ConversationUser",
            "-u", "2", "-r", "2", "-t", "4", "--turns", "3", "--max-tokens", "7",
            "--shared-prefix-tokens", "50", "--prompts", str(dataset),
            summary=tmp_path / "s.json",
        )  # fmt: skip
    finally:
        fixture_server.prompt_cache = False
    assert run.returncode == 0, run.output[-3000:]
    bodies = [b["messages"] for b in fixture_server.bodies]
    answer = "".join(f" t{i}" for i in range(TOKENS))
    seen = [json.dumps(m) for m in bodies]
    for messages, body in zip(bodies, fixture_server.bodies, strict=True):
        system, *history = messages
        assert system["role"] == "system" and len(system["content"].split()) >= 45
        turn = (len(history) + 1) // 2
        user = history[-1]["content"]
        assert user.endswith(str(turn)), history  # the recorded human turns, in order
        assert body["max_tokens"] == {1: 10, 2: 20, 3: 7}[turn]  # recorded reply lengths
        if turn > 1:  # the previous request, answered, is this one's prefix
            assert json.dumps(messages[:-2]) in seen
            assert history[-2] == {"role": "assistant", "content": answer}
    turns = run.summary["turns"]
    assert set(turns) == {"1", "2", "3"}
    assert (
        sum(t["requests"] for t in turns.values()) == len(bodies) == run.summary["requests"]["ok"]
    )
    assert all(t["ttft_ms"]["count"] == t["requests"] for t in turns.values())
    prompt = [turns[n]["prompt_tokens_per_request"] for n in "123"]
    cached = [turns[n]["cached_tokens_per_request"] for n in "123"]
    assert prompt[0] < prompt[1] < prompt[2]
    assert cached[0] < cached[1] < cached[2] and cached[2] < prompt[2]
    assert run.summary["cache"]["responses_reporting"] == len(bodies)
    assert "cached prompt tokens in" in run.output


def test_reasoning_streams_time_the_first_reasoning_and_answer_tokens(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    run = run_locust(
        fixture_server.base_url,
        "StreamingChatUser",
        "-u", "2", "-r", "2", "-t", "3", "--prompts", prompts("reason", "reason2"),
        summary=tmp_path / "s.json",
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    m, ok = run.summary["metrics"], run.summary["requests"]["ok"]
    assert ok > 0
    assert m["reasoning_ttft_ms"]["count"] == m["answer_ttft_ms"]["count"] == ok
    # TTFT is the first token of any kind: here the first reasoning token, sample for sample.
    assert m["ttft_ms"]["mean"] == pytest.approx(m["reasoning_ttft_ms"]["mean"])
    gap = m["answer_ttft_ms"]["mean"] - m["reasoning_ttft_ms"]["mean"]
    assert gap >= (REASONING_TOKENS - 0.5) * ITL_S * 1000
    assert "first token of any kind" in run.summary["definitions"]["ttft_ms"]
    assert "TTFT = first token of any kind" in run.output


def test_a_seed_repeats_prompts_and_arrivals(
    fixture_server: FixtureServer, prompts, tmp_path: Path
) -> None:
    file = prompts(*(f"delay {c}" for c in "abcdefgh"))

    def sent(seed: int) -> list[str]:
        fixture_server.forget()
        run = run_locust(
            fixture_server.base_url,
            "StreamingChatUser",
            "--arrival", "constant", "--rate", "10", "-t", "2", "--seed", str(seed),
            "--prompts", file,
            summary=tmp_path / f"{seed}.json",
        )  # fmt: skip
        assert run.returncode == 0, run.output[-3000:]
        return [b["messages"][-1]["content"] for b in fixture_server.bodies]

    first, again, other = sent(11), sent(11), sent(12)
    n = min(len(first), len(again), len(other))
    assert n >= 10
    assert first[:n] == again[:n]
    assert first[:n] != other[:n]
