"""Goodput: per-request objectives, the recorder's counts, the summary, the rate sweep's knee."""

from __future__ import annotations

import pytest

from loadtests._rate_sweep import MAX_RATE_STEPS, OpenLoopShape, RateSweep, RateSweepParams
from loadtests._recorder import METRICS, Counts, Recorder, Reservoir
from loadtests._slo import check, meets, parse_slo, request_objectives
from loadtests._summary import credited, format_table, view
from loadtests._window import Credit

OBJECTIVES = request_objectives(parse_slo("ttft_ms=400,itl_ms=100,e2e_ms=800,ttft_p95_ms=900"))


def test_request_objectives_are_not_gates() -> None:
    assert OBJECTIVES == {"ttft_ms": 400.0, "itl_ms": 100.0, "e2e_ms": 800.0}
    summary = view(Counts(ok=1), {m: Reservoir() for m in METRICS}, 1.0)
    assert check(parse_slo("ttft_ms=1,e2e_ms=1"), summary) == []


@pytest.mark.parametrize(
    ("ttft", "itl", "e2e", "good"),
    [
        (0.2, [0.02] * 9, 0.4, True),
        (0.6, [0.02] * 9, 0.8, False),  # TTFT over
        (0.2, [0.02] * 8 + [0.3], 0.6, False),  # one stall: the request's ITL p95 is 188 ms
        (0.2, [0.02] * 19 + [0.3], 0.8, True),  # one stall in 20 gaps: p95 is 34 ms
        (0.2, [0.02] * 39, 0.98, False),  # E2E over
        (0.2, [], 0.2, True),  # a single token has no gap to be late
        (None, None, 0.2, False),  # not streamed: no TTFT to meet the objective
    ],
)
def test_meets_every_objective(
    ttft: float | None, itl: list[float] | None, e2e: float, good: bool
) -> None:
    assert meets(OBJECTIVES, ttft_s=ttft, itl_s=itl, tpot_s=None, e2e_s=e2e) is good
    assert meets({}, ttft_s=ttft, itl_s=itl, tpot_s=None, e2e_s=e2e)  # no objective: all good


def test_recorder_counts_good_requests_turns_cache_and_arrivals() -> None:
    rec = Recorder()
    rec.objectives = {"ttft_ms": 300.0}
    rec.ok("c", e2e_s=0.5, output_tokens=10, prompt_tokens=50, ttft_s=0.2, itl_s=[], turn=1)
    rec.ok("c", e2e_s=0.5, output_tokens=10, prompt_tokens=90, ttft_s=0.4, itl_s=[], turn=2,
           cached_tokens=45)  # fmt: skip
    rec.error("c", "boom")
    rec.arrival("c", lag_s=0.001, sent=True, late=False)
    rec.arrival("c", lag_s=0.2, sent=True, late=True)
    rec.arrival("c", lag_s=0.0, sent=False, late=False)
    agg = rec.aggregate
    counts = agg.totals()
    assert (counts.good, counts.good_output_tokens) == (1, 10)
    assert (counts.cached_tokens, counts.cache_reports, counts.cache_report_prompt_tokens) == (
        45, 1, 90)  # fmt: skip
    assert (counts.arrivals, counts.late, counts.dropped) == (3, 1, 1)
    summary = view(counts, agg.metrics, 2.0)
    assert summary["goodput"] == {
        "requests": 1, "requests_per_s": 0.5, "output_tokens_per_s": 5.0, "ratio": 1 / 4,
    }  # fmt: skip
    assert summary["arrivals"]["sent"] == 2 and summary["arrivals"]["not_on_time"] == 2
    assert summary["cache"]["share_of_prompt_tokens"] == pytest.approx(0.5)
    turns = {n: t.as_dict() for n, t in agg.turns.items()}
    assert turns[1]["cached_tokens_per_request"] is None  # the server did not say
    assert turns[2]["cached_tokens_per_request"] == 45
    assert [turns[n]["prompt_tokens_per_request"] for n in (1, 2)] == [50, 90]


def step_view(
    rate: float, capacity: float, errors: int = 0, ttft_ms: float = 100.0, luck: float = 1.0
) -> dict:
    """Ten seconds of a server that turns at most ``capacity`` requests/s into good answers;
    ``luck`` scales the arrivals the window happened to get (Poisson noise)."""
    due = round(rate * 10 * luck)
    good = round(min(rate * luck, capacity) * 10)
    counts = Counts(ok=due - errors, errors=errors, arrivals=due, good=good,
                    output_tokens=10 * due, good_output_tokens=10 * good)  # fmt: skip
    metrics = {m: Reservoir() for m in METRICS}
    metrics["ttft_ms"].extend([ttft_ms] * max(1, due))
    return view(counts, metrics, 10.0)


def run_sweep(capacity: float, slo: str = "", **views) -> RateSweep:
    sweep: RateSweep
    params = RateSweepParams(start=2, step=2, step_time=10, max_loss=0.05, settle=1)

    def read() -> dict:
        rate = 2 + 2 * sweep.index
        return step_view(rate, capacity, **views.get(str(rate), {}))

    sweep = RateSweep(params, None, lambda: 3, lambda: None, read,
                      lambda v: check(parse_slo(slo), v, throughput=False))  # fmt: skip
    for t in range(0, 10 * (MAX_RATE_STEPS + 2)):  # bounded: one tick per second
        tick = sweep.tick(float(t))
        if tick is None:
            break
        assert tick == (3, 3.0)  # one dispatcher per load process
    return sweep


def test_rate_sweep_knee_is_where_goodput_stops_growing() -> None:
    sweep = run_sweep(capacity=10)
    report = sweep.report()
    assert [s["rate"] for s in report["steps"]] == [2, 4, 6, 8, 10, 12]
    assert report["knee"]["rate"] == 10 and report["knee"]["goodput_rps"] == 10
    assert "goodput stopped growing" in report["stopped_by"]
    assert "goodput stopped growing" in format_table(
        {**step_view(2, 10), "shape": {"name": "rate-sweep", **report}, "model": "m"}
    )


def test_window_noise_below_capacity_does_not_end_the_sweep() -> None:
    # A window with 20% more arrivals, then one with 20% fewer: every arrival is still good.
    report = run_sweep(capacity=10, **{"6": {"luck": 1.2}, "8": {"luck": 0.8}}).report()
    assert report["knee"]["rate"] == 10
    assert [s["efficiency"] for s in report["steps"][:5]] == [1.0] * 5


def test_rate_sweep_stops_on_errors_or_a_gate() -> None:
    report = run_sweep(capacity=100, **{"6": {"errors": 6}}).report()  # 10% of 60
    assert report["knee"]["rate"] == 4 and "errors+shed+dropped" in report["stopped_by"]
    report = run_sweep(capacity=100, slo="ttft_p95_ms=500", **{"8": {"ttft_ms": 900}}).report()
    assert report["knee"]["rate"] == 6 and report["stopped_by"].startswith("ttft_p95_ms")
    report = run_sweep(capacity=0.5).report()
    assert report["knee"] is None and len(report["steps"]) == 1


def test_open_loop_shape_keeps_one_dispatcher_per_process() -> None:
    shape = OpenLoopShape(run_time=5, dispatchers=lambda: 4)
    assert shape.tick(0) == (4, 4.0) and shape.tick(5) is None
    assert OpenLoopShape(None, lambda: 0).tick(1e6) == (1, 1.0)


def test_table_shows_goodput_arrivals_turns_and_the_reasoning_note() -> None:
    rec = Recorder()
    rec.objectives = OBJECTIVES
    rec.ok("c", e2e_s=0.4, output_tokens=10, ttft_s=0.2, itl_s=[0.02], turn=1,
           reasoning_ttft_s=0.2, answer_ttft_s=0.26)  # fmt: skip
    rec.arrival("c", lag_s=0.0, sent=True, late=False)
    summary = view(rec.aggregate.totals(), rec.aggregate.metrics, 1.0)
    summary["goodput"]["objectives"] = OBJECTIVES
    summary["arrivals"].update(process="poisson", rate=1.0, late_after_ms=50.0)
    summary["turns"] = {"1": rec.aggregate.turns[1].as_dict()}
    summary.update({"shape": {"name": "constant"}, "model": "m"})
    table = format_table(summary)
    assert "goodput  1.00 req/s  10.0 output tok/s within ttft_ms=400" in table
    assert "arrivals  poisson at 1 req/s: 1 due, 1 sent" in table
    assert "TTFT = first token of any kind" in table and "1st answer ms" in table
    assert "reported no usage.prompt_tokens_details.cached_tokens" in table
    assert table.splitlines()[-1].startswith("1 ")  # the turn table


def test_a_rate_step_is_judged_on_what_it_produced_once_its_requests_have_finished() -> None:
    params = RateSweepParams(start=2, step=2, step_time=10, max_loss=0.05, settle=1, report_lag=1)
    metrics = {m: Reservoir() for m in METRICS}
    metrics["e2e_ms"].extend([3000.0] * 20)  # the step's requests take 3 s
    counts = Counts(ok=20, arrivals=20, good=20, output_tokens=200, good_output_tokens=200)
    windows: list[tuple[float, float, float]] = []

    def credit(step_view: dict, start_s: float, end_s: float) -> dict:
        windows.append((start_s, end_s, now))
        # Requests that straddle the window's edges count by their share in it: 18 of 20.
        produced = Credit(requests=18.0, output_tokens=180.0, good_requests=18.0)
        produced.good_output_tokens = 180.0
        return credited(step_view, produced)

    sweep = RateSweep(params, None, lambda: 1, lambda: None,
                      lambda: view(counts, metrics, 9.0), lambda v: [], credit)  # fmt: skip
    for tick in range(0, 25):  # bounded: one tick per second
        now = float(tick)
        assert sweep.tick(now) is not None
    # Closed at 10 s, judged report lag + E2E p99 later (14 s), on its own window [1 s, 10 s].
    assert windows[0] == (1.0, 10.0, 14.0)
    step = sweep.report()["steps"][0]
    assert step["requests_per_s"] == pytest.approx(2.0) and step["efficiency"] == 0.9
    assert step["goodput_output_tokens_per_s"] == pytest.approx(20.0)
    # The wait for a step's requests never reaches past the next step's end.
    slow = {m: Reservoir() for m in METRICS}
    slow["e2e_ms"].extend([60_000.0])
    sweep = RateSweep(params, None, lambda: 1, lambda: None,
                      lambda: view(counts, slow, 9.0), lambda v: [], credit)  # fmt: skip
    windows.clear()
    for tick in range(0, 12):
        now = float(tick)
        sweep.tick(now)
    assert not windows
    for tick in range(12, 21):
        now = float(tick)
        sweep.tick(now)
    assert windows == [(1.0, 10.0, 20.0)]
    # A step whose wait the run time cuts short is left unjudged, not failed.
    sweep = RateSweep(params, 15.0, lambda: 1, lambda: None,
                      lambda: view(counts, slow, 9.0), lambda v: [], credit)  # fmt: skip
    windows.clear()
    for tick in range(0, 16):
        now = float(tick)
        sweep.tick(now)
    report = sweep.report()
    assert not windows and report["unjudged_rate"] == 2 and report["stopped_by"] == "run time"
