"""Open-loop dispatch on Locust: requests leave on the arrival schedule, not when the last one ends.

One ``OpenLoop`` per load process (built at test start). Its users are dispatchers: a user's
``wait_time`` claims the next due arrival of the process's schedule and sleeps until it; the task
that follows builds the request and spawns it into a bounded gevent pool (the pattern Locust
documents for concurrent requests from one ``FastHttpUser``), then returns at once. So a slow
server never slows the load: queueing shows up in TTFT.

Every arrival is accounted for: ``sent`` (late when it left more than the tolerance after its due
time: the load generator could not keep up) or ``dropped`` (the in-flight cap was full: the
server is not keeping up, and waiting for a free slot would turn the test back into a closed
loop). The cap also keeps memory bounded when a server stops answering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.pool

from ._arrivals import ArrivalProcess, RateTimeline, schedule, sweep_rate
from ._recorder import RECORDER

log = logging.getLogger(__name__)

IDLE_CLAIM_S = 1.0  # when the timeline asks for nothing more, look again this much later
DEFAULT_TIMED_RUN_S = 60.0  # ramp and spike scale against -t; this when it is not given


@dataclass
class Share:
    """This process's part of a run: its number among the load processes and the run's seed."""

    index: int = 0
    count: int = 0  # 0: not known (a worker that has not heard from its master)
    seed: int = 0
    run_time: float | None = None  # -t, which Locust does not forward to workers

    def as_message(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SweepSteps:
    start: float
    step: float
    step_time: float


def timeline_for(
    shape: str, rate: float, run_time: float | None, sweep: SweepSteps
) -> RateTimeline:
    """The rate over time for an open-loop run of ``shape`` (same on every process)."""
    if shape == "rate-sweep":
        return RateTimeline(sweep.step_time, lambda k: sweep_rate(sweep.start, sweep.step, k))
    length = run_time or DEFAULT_TIMED_RUN_S
    if shape == "ramp":  # 20 equal steps from rate/40 up to rate, then rate
        return RateTimeline(length / 20, lambda k: rate * min(1.0, (k + 0.5) / 20))
    if shape == "spike":  # a quarter of the rate, all of it in the middle fifth (as -u for users)
        return RateTimeline(length / 10, lambda k: rate if k in (4, 5) else rate / 4)
    return RateTimeline.constant(rate)


class OpenLoop:
    def __init__(
        self,
        process: ArrivalProcess,
        timeline: RateTimeline,
        share: Share,
        max_in_flight: int,
        tolerance_s: float,
        entries: Iterator[tuple[float, Any]] | None = None,
    ) -> None:
        """``entries``: (due, what to send) instead of drawn arrivals (a replayed trace)."""
        self.epoch: float | None = None  # the schedule's time 0: when the first user is ready
        self.share = share
        self.tolerance_s = tolerance_s
        self.pool = gevent.pool.Pool(max_in_flight)
        if entries is None:
            drawn = schedule(process, timeline, share.seed, share.index, share.count)
            entries = ((t, None) for t in drawn)
        self._due: Iterator[tuple[float, Any]] = entries
        self.claimed: Any = None  # what the last claimed arrival sends (None: the user picks)

    def claim(self) -> float | None:
        """The next due time (monotonic seconds) of this process's schedule, or None."""
        if self.epoch is None:
            # Not the test start: a user first asks the server for the model, which must not
            # make the first arrivals late.
            self.epoch = time.monotonic()
            RECORDER.timeline.start_at_first_arrival()
        t, self.claimed = next(self._due, (None, None))
        return None if t is None else self.epoch + t

    def fire(self, due: float, name: str, request: Callable[[], object]) -> None:
        lag = time.monotonic() - due
        if self.pool.full():
            RECORDER.arrival(name, lag_s=lag, sent=False, late=False)
            return
        RECORDER.arrival(name, lag_s=lag, sent=True, late=lag > self.tolerance_s)
        self.pool.spawn(_guarded, name, request)

    def drain(self, timeout: float) -> None:
        """Let requests in flight finish (within ``timeout``), then end the rest."""
        try:
            self.pool.join(timeout=max(0.0, timeout))
        finally:
            if len(self.pool):
                self.pool.kill(block=True, timeout=5)


def _guarded(name: str, request: Callable[[], object]) -> None:
    """Run one request; a bug in it is a counted, logged failure (as Locust does for tasks)."""
    try:
        request()
    except Exception as exc:
        log.exception("inferno: request %s raised", name)
        RECORDER.error(name, f"{type(exc).__name__}: {exc}"[:160])


class Dispatcher:
    """What a user does in open loop: claim an arrival in ``wait_time``, fire it in the task."""

    def __init__(self, loop: OpenLoop) -> None:
        self.loop = loop
        self._due: float | None = None
        self.payload: Any = None  # what the held arrival sends, when the schedule says

    @property
    def holds_arrival(self) -> bool:
        return self._due is not None

    def wait_time(self) -> float:
        self._due = self.loop.claim()
        self.payload = self.loop.claimed
        if self._due is None:
            return IDLE_CLAIM_S
        return max(0.0, self._due - time.monotonic())

    def send(self, name: str, request: Callable[[], object]) -> None:
        due, self._due = self._due, None
        if due is not None:  # None: the task before the first wait, nothing is due yet
            self.loop.fire(due, name, request)
