"""The load window's credit (exact throughput), the per-second timeline and `compare`, on fixed
numbers: no server, no clock."""

from __future__ import annotations

import json
import random

import pytest

from loadtests import _compare
from loadtests._stream_meter import StreamResult
from loadtests._timeline import FIELDS, Timeline, credit_between, merge, series
from loadtests._window import Credit, LoadWindow, rates, tokens_before

E2E = 2.05  # the calibration mock: 500 ms, then 31 gaps of 50 ms
TOKENS = 32


def stream(start: float, tokens: int, first: float = 0.5, gap: float = 0.05) -> StreamResult:
    result = StreamResult(start=start, first_content_at=start + first)
    result.itl_s = [gap] * (tokens - 1)
    result.content_events = tokens
    result.last_content_at = start + first + gap * (tokens - 1)
    return result


def closed_loop(users: int, end: float, *, drain: bool) -> tuple[Credit, LoadWindow]:
    """Users back to back from desynchronised starts; at ``end`` the load stops."""
    window, credit = LoadWindow(), Credit()
    for user in range(users):
        t = user * 0.173  # users start apart, as spawning does
        while t < end:
            live = window.begin(t)
            live.stream = stream(t, TOKENS)
            if t + E2E <= end:
                window.end = None  # still running
            else:
                window.end = end
                if not drain:
                    credit.add(window.cut_off(live, end + 0.01, {}).as_dict())
                    break
            credit.add(
                window.finished(
                    live, e2e_s=E2E, output_tokens=TOKENS, prompt_tokens=5, good=True
                ).as_dict()
            )
            t += E2E
    return credit, window


@pytest.mark.parametrize("users", [1, 8])
@pytest.mark.parametrize("drain", [False, True])
def test_closed_loop_credit_is_the_steady_rate(users: int, drain: bool) -> None:
    end = 30.0
    credit, _ = closed_loop(users, end, drain=drain)
    # Each user's window runs from its own first send; the run's from the test start.
    busy = sum(end - user * 0.173 for user in range(users))
    assert credit.requests == pytest.approx(busy / E2E, rel=1e-9)
    assert credit.output_tokens == pytest.approx(busy / E2E * TOKENS, rel=1e-9)
    assert (credit.cut_off > 0) != drain
    assert (credit.drained > 0) == drain


def test_a_request_sent_after_the_end_counts_nothing() -> None:
    window = LoadWindow(end=10.0)
    live = window.begin(10.5)
    assert window.finished(live, e2e_s=1.0, output_tokens=9, prompt_tokens=1, good=True).empty()
    assert window.cut_off(window.begin(11.0), 12.0, {}).empty()


def test_a_cut_off_stream_counts_at_least_the_tokens_it_received() -> None:
    window = LoadWindow()
    first = window.begin(0.0)
    window.finished(first, e2e_s=1.0, output_tokens=4, prompt_tokens=0, good=True)
    window.end = 5.0
    live = window.begin(4.0)  # 1 s in: a share of 1.0 of a 1 s mean request, 4 tokens expected
    live.stream = stream(4.0, 10, first=0.1, gap=0.05)  # but 10 arrived by 4.55
    credit = window.cut_off(live, 6.0, {})
    assert credit.requests == pytest.approx(1.0)
    assert credit.output_tokens == 10
    assert credit.cut_off == 1


def test_a_cut_off_request_is_good_only_if_nothing_so_far_broke_an_objective() -> None:
    window = LoadWindow()
    window.finished(window.begin(0.0), e2e_s=2.0, output_tokens=4, prompt_tokens=0, good=True)
    window.end = 10.0
    slow = window.begin(9.0)
    slow.stream = stream(9.0, 3, first=0.6)  # first token after 600 ms
    quick = window.begin(9.0)
    quick.stream = stream(9.0, 3, first=0.1)
    objectives = {"ttft_ms": 500.0}
    assert window.cut_off(slow, 10.0, objectives).good_requests == 0.0
    assert window.cut_off(quick, 10.0, objectives).good_requests == pytest.approx(0.5)


def test_tokens_before_counts_the_events_that_arrived_in_time() -> None:
    result = stream(0.0, 32)  # tokens at 0.5, 0.55, ...
    assert tokens_before(result, 0.4) == 0
    assert tokens_before(result, 0.5) == 1
    assert tokens_before(result, 0.601) == 3
    assert tokens_before(result, 99.0) == 32


def test_rates_divide_the_credit_by_the_window() -> None:
    got = rates(Credit(requests=10, output_tokens=320, prompt_tokens=50, good_requests=5), 4.0)
    assert got["requests_per_s"] == 2.5
    assert got["output_tokens_per_s"] == 80.0
    assert got["total_tokens_per_s"] == pytest.approx(92.5)
    assert got["goodput_requests_per_s"] == 1.25


def test_credit_survives_the_trip_to_the_master() -> None:
    master = Credit()
    for part in (Credit(requests=1.5, cut_off=1), Credit(requests=2.25, drained=2)):
        master.add(json.loads(json.dumps(part.as_dict())))
    assert master.requests == 3.75 and master.cut_off == 1 and master.drained == 2


def test_timeline_buckets_merge_and_become_rates() -> None:
    worker_a, worker_b = Timeline(), Timeline()
    for timeline in (worker_a, worker_b):
        timeline.add(timeline.started + 0.2, "requests")
        timeline.add(timeline.started + 2.5, "output_tokens", 7)
        timeline.add(timeline.started + 2.5, "ttft_sum_ms", 300.0)
        timeline.add(timeline.started + 2.5, "ttft_count")
    merged: dict[int, list[float]] = {}
    merge(merged, worker_a.drain())
    merge(merged, worker_b.drain())
    merge(merged, {"5": [1.0]})  # a malformed bucket is ignored
    got = series(merged, 2.0)
    assert got["seconds"] == [0, 1, 2]
    assert got["requests_per_s"] == [2.0, 0.0, 0.0]
    assert got["output_tokens_per_s"] == [0.0, 0.0, 14.0]
    assert got["ttft_mean_ms"] == [None, None, 300.0]
    assert got["end_of_load_s"] == 2.0
    assert len(FIELDS) == 10 and not worker_a.buckets


def test_a_request_is_credited_to_each_second_by_the_share_of_its_span_in_it() -> None:
    worker_a, worker_b = Timeline(), Timeline()
    credit = {"requests": 1.0, "output_tokens": 10.0, "good_requests": 1.0, "good_output_tokens": 0}
    worker_a.spread(worker_a.started + 0.5, worker_a.started + 2.5, credit)  # 2 s: 1/4, 1/2, 1/4
    worker_b.spread(worker_b.started + 1.2, worker_b.started + 1.2, credit)  # no span: its bucket
    merged: dict[int, list[float]] = {}
    merge(merged, worker_a.drain())
    merge(merged, worker_b.drain())
    assert credit_between(merged, 0.0, 1.0)["requests"] == pytest.approx(0.25)
    assert credit_between(merged, 1.0, 2.0)["requests"] == pytest.approx(1.5)
    assert credit_between(merged, 0.0, 3.0)["output_tokens"] == pytest.approx(20.0)
    # An edge inside a bucket takes the share of the bucket it covers.
    assert credit_between(merged, 2.0, 2.5)["requests"] == pytest.approx(0.125)
    assert credit_between(merged, 5.0, 9.0) == dict.fromkeys(credit, 0.0)


def _summary(values: dict[str, list[float]]) -> dict:
    return {"samples": values, "throughput": {"requests_per_s": 1.0, "output_tokens_per_s": 10.0}}


def test_compare_finds_a_slower_ttft_and_no_change_in_an_equal_one() -> None:
    rng = random.Random(1)
    base = [rng.gauss(200, 20) for _ in range(300)]
    slower = [v + 30 for v in base]
    same = rng.sample(base, len(base))  # the same values: no change to find
    a = _summary({"ttft_ms": base})
    diffs = {d.stat: d for d in _compare.compare(a, _summary({"ttft_ms": slower}), resamples=100)}
    assert diffs["p95"].verdict == "worse (higher)"
    assert diffs["mean"].low < 30 < diffs["mean"].high  # type: ignore[operator]
    equal = {d.stat: d for d in _compare.compare(a, _summary({"ttft_ms": same}), resamples=100)}
    assert equal["p50"].verdict == "no clear change"


def test_compare_is_seeded() -> None:
    rng = random.Random(2)
    a = _summary({"itl_ms": [rng.random() for _ in range(300)]})
    b = _summary({"itl_ms": [rng.random() for _ in range(300)]})
    first = _compare.compare(a, b, resamples=100, seed=7)
    again = _compare.compare(a, b, resamples=100, seed=7)
    assert [(d.low, d.high) for d in first] == [(d.low, d.high) for d in again]
    assert first[-1].metric == "output_tokens_per_s" and first[-1].low is None
