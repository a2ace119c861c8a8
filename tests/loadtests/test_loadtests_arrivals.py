"""Arrival schedules: distributions (fixed seeds, statistical tests), rate timelines, splitting."""

from __future__ import annotations

import itertools
import statistics

import pytest
from arrival_checks import gaps, ks_exponential, looks_exponential

from loadtests._arrivals import ArrivalProcess, RateTimeline, schedule, sweep_rate
from loadtests._open_loop import SweepSteps, timeline_for

N = 4000


def first(process: ArrivalProcess, rate: float, seed: int, n: int = N, **share) -> list[float]:
    return list(itertools.islice(schedule(process, RateTimeline.constant(rate), seed, **share), n))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_gaps_are_exponential_at_the_rate(seed: int) -> None:
    rate = 25.0
    g = gaps([0.0, *first(ArrivalProcess("poisson"), rate, seed)])
    # Mean within 4 standard errors (the std of an exponential equals its mean).
    assert abs(statistics.mean(g) - 1 / rate) < 4 * (1 / rate) / N**0.5
    assert looks_exponential(g, rate, alpha=0.01)
    # The test has teeth: the same gaps are not exponential at a rate 10% off.
    assert not looks_exponential(g, rate * 1.1, alpha=0.01)


def test_gamma_burstiness_sets_the_spread() -> None:
    rate = 10.0
    for burstiness in (0.25, 1.0, 4.0):
        g = gaps([0.0, *first(ArrivalProcess("gamma", burstiness), rate, seed=5)])
        cv = statistics.stdev(g) / statistics.mean(g)
        assert abs(statistics.mean(g) - 1 / rate) < 0.05 / rate
        assert cv == pytest.approx(burstiness**-0.5, rel=0.1)
    # Burstiness 1 is Poisson; a bursty gamma is not exponential.
    bursty = gaps([0.0, *first(ArrivalProcess("gamma", 0.25), rate, seed=5)])
    assert ks_exponential(bursty, rate) > 0.1


def test_constant_arrivals_are_evenly_spaced() -> None:
    times = first(ArrivalProcess("constant"), 8.0, seed=1, n=100)
    assert times == pytest.approx([(i + 1) / 8.0 for i in range(100)])


def test_a_seed_repeats_the_schedule() -> None:
    poisson = ArrivalProcess("poisson")
    assert first(poisson, 5.0, seed=9, n=50) == first(poisson, 5.0, seed=9, n=50)
    assert first(poisson, 5.0, seed=9, n=50) != first(poisson, 5.0, seed=10, n=50)


@pytest.mark.parametrize("kind", ["poisson", "gamma", "constant"])
@pytest.mark.parametrize("count", [2, 3])
def test_processes_split_the_one_schedule(kind: str, count: int) -> None:
    process, rate = ArrivalProcess(kind, 0.5), 30.0
    whole = first(process, rate, seed=4, n=3000)
    horizon = whole[-1]
    shares = [
        list(itertools.takewhile(lambda t: t <= horizon, schedule(
            process, RateTimeline.constant(rate), 4, index=i, count=count)))
        for i in range(count)
    ]  # fmt: skip
    assert sorted(itertools.chain(*shares)) == whole  # exactly the one schedule, nothing twice
    for share in shares:  # each process sends about rate / count (binomial: within 4 sigma)
        expected = 3000 / count
        assert abs(len(share) - expected) < 4 * (expected * (1 - 1 / count)) ** 0.5
    if kind == "constant":  # round-robin: each process's share is itself evenly spaced
        assert set(round(g, 9) for g in gaps(shares[0])) == {round(count / rate, 9)}
    with pytest.raises(ValueError):
        first(process, rate, seed=4, n=1, index=count, count=count)


def test_a_share_of_a_poisson_schedule_is_poisson_at_its_part_of_the_rate() -> None:
    share = first(ArrivalProcess("poisson"), 30.0, seed=8, n=N, index=1, count=3)
    assert looks_exponential(gaps([0.0, *share]), 10.0, alpha=0.01)


def test_sweep_timeline_steps_the_rate() -> None:
    timeline = timeline_for("rate-sweep", 0.0, None, SweepSteps(start=2, step=2, step_time=5))
    due = schedule(ArrivalProcess("constant"), timeline, seed=1)
    times = [round(t, 6) for t in itertools.takewhile(lambda t: t < 15.1, due)]
    per_step = [sum(k * 5 < t <= (k + 1) * 5 for t in times) for k in range(3)]
    assert per_step == [10, 20, 30]  # 2, 4 and 6 requests/s for 5 s each
    assert [sweep_rate(1, 0, k) for k in range(4)] == [1, 2, 4, 8]


def test_ramp_and_spike_timelines() -> None:
    ramp = timeline_for("ramp", 20.0, 100.0, SweepSteps(1, 0, 1))
    assert ramp.rate_at(0) == pytest.approx(0.5) and ramp.rate_at(99) == pytest.approx(19.5)
    assert ramp.rate_at(500) == 20.0
    spike = timeline_for("spike", 20.0, 100.0, SweepSteps(1, 0, 1))
    assert [spike.rate_at(t) for t in (10, 45, 55, 70)] == [5.0, 20.0, 20.0, 5.0]
    poisson = ArrivalProcess("poisson")
    assert list(schedule(poisson, RateTimeline.constant(0.0), seed=1)) == []  # never due


def test_invalid_processes() -> None:
    with pytest.raises(ValueError, match="--arrival"):
        ArrivalProcess("uniform")
    with pytest.raises(ValueError, match="--burstiness"):
        ArrivalProcess("gamma", 0.0)
