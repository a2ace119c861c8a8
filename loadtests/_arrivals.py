"""Open-loop arrival schedules: when each request is due, whatever the server's latency.

A schedule is a unit-rate renewal process (gaps of mean 1) stretched through the run's rate
timeline: arrival ``s`` of the unit process happens at ``t = Λ⁻¹(s)``, where ``Λ(t)`` is the number
of requests the timeline asks for by time ``t``. For a constant rate that is just ``gap / rate``; a
rate that steps up (a sweep) or ramps keeps the process's shape within each step.

Processes (vLLM's ``bench serve`` uses the same gamma parametrisation):
- ``poisson``: exponential gaps; arrivals independent of each other.
- ``gamma``: gamma gaps of shape ``burstiness`` (1 = Poisson; below 1 burstier, clumps and
  lulls; above 1 more regular). The coefficient of variation of the gaps is 1/sqrt(burstiness).
- ``constant``: every gap exactly the mean.

Splitting over processes: every process draws the same global sequence from the shared seed and
the same owner for each arrival, and keeps its own, so the union over the processes is exactly
the global schedule (each process sends ``rate / count`` on average). Owners are drawn at random
(a second seeded stream): thinning a Poisson process at random gives independent Poisson
processes, so the union stays Poisson even when the processes start a little apart. Constant
arrivals go round-robin instead, so that each process's own share stays evenly spaced.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

ARRIVALS = ("poisson", "gamma", "constant")
MAX_STEPS = 1_000_000  # a rate timeline has far fewer steps; bounds the walk over zero-rate steps


@dataclass(frozen=True)
class ArrivalProcess:
    kind: str = "poisson"
    burstiness: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ARRIVALS:
            raise ValueError(f"--arrival must be one of {', '.join(ARRIVALS)}, not {self.kind!r}")
        if not (self.burstiness > 0 and math.isfinite(self.burstiness)):
            raise ValueError("--burstiness must be a positive number")

    def unit_gaps(self, rng: random.Random) -> Iterator[float]:
        """Gaps of mean 1, endless."""
        if self.kind == "constant":
            while True:
                yield 1.0
        shape = 1.0 if self.kind == "poisson" else self.burstiness
        while True:
            yield rng.gammavariate(shape, 1.0 / shape)


@dataclass(frozen=True)
class RateTimeline:
    """Requests per second over time, as consecutive steps of ``step_s`` seconds.

    ``rate_of(k)`` is the rate during step ``k``; ``step_s = inf`` is one endless step.
    """

    step_s: float
    rate_of: Callable[[int], float]

    @classmethod
    def constant(cls, rate: float) -> RateTimeline:
        return cls(math.inf, lambda _k: rate)

    def rate_at(self, t: float) -> float:
        return self.rate_of(0 if math.isinf(self.step_s) else int(t // self.step_s))

    def times(self, unit_arrivals: Iterator[float]) -> Iterator[float]:
        """Map increasing unit-process points ``s`` to seconds ``Λ⁻¹(s)``."""
        step, step_t, step_s = 0, 0.0, 0.0  # current step, its start time and its start in Λ
        for s in unit_arrivals:
            while True:
                rate = max(0.0, self.rate_of(step))
                end_s = step_s + rate * self.step_s if rate else step_s
                if rate and s < end_s:
                    yield step_t + (s - step_s) / rate
                    break
                if math.isinf(self.step_s) or step >= MAX_STEPS:
                    return  # a zero rate forever: nothing more is ever due
                step, step_t, step_s = step + 1, step_t + self.step_s, end_s


def sweep_rate(start: float, step: float, k: int) -> float:
    """Rate of sweep step ``k``: ``start + k * step``, or ``start * 2**k`` when step is 0."""
    return start + k * step if step > 0 else start * 2.0 ** min(k, 60)


def schedule(
    process: ArrivalProcess,
    timeline: RateTimeline,
    seed: int,
    index: int = 0,
    count: int = 1,
) -> Iterator[float]:
    """Due times (seconds from the start) of this process's share of the global schedule."""
    if not 0 <= index < count:
        raise ValueError(f"process index {index} outside 0..{count - 1}")
    rng = random.Random(f"inferno-arrivals:{seed}")
    owners = random.Random(f"inferno-owners:{seed}")

    def unit_points() -> Iterator[float]:
        s = 0.0
        for gap in process.unit_gaps(rng):
            s += gap
            yield s

    def owner(i: int) -> int:
        if count == 1:
            return 0
        return i % count if process.kind == "constant" else owners.randrange(count)

    for i, t in enumerate(timeline.times(unit_points())):
        if owner(i) == index:
            yield t
