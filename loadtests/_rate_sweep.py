"""Open-loop shapes on the master (or the local runner): how many dispatchers, and the rate sweep.

In open loop the load is the arrival rate, not the user count: each load process runs one
dispatcher user and follows the rate timeline itself (``_open_loop.timeline_for``), so the shape
only keeps one user per process alive until the run ends.

``RateSweep`` steps the rate up (GuideLLM's sweep, on Locust): rate k is ``--rate + k * step``
(doubling when the step is 0), each held for ``--sweep-step-time`` seconds. After each step it
judges that step's own samples (a window that leaves out the first ``settle`` seconds) and stops
at the first step that fails; the last step that passed is the **knee**, the highest rate the
server sustained within the objectives. A step fails when
- errors + shed + dropped arrivals exceed ``max_loss`` of its arrivals,
- a gate of ``--slo`` (``ttft_p95_ms``, ``min_goodput_ratio``, ...) is violated on its window,
- goodput stopped growing: it gained less than half of the rate added since the previous step,
- or nothing finished.

A step's throughput and goodput are what it produced, by the definition of the whole run's
(``_window.py``): each request counted by the share of its span (sent to last byte) inside the
step's window, read from the timeline's credit buckets, beside the arrivals that came due in the
same window on the same clocks. So a step is judged once the requests in flight at its end have
had time to finish and be reported: ``report_lag`` plus its E2E p99 later, at most one step (the
next step runs meanwhile; a failed step stops the sweep then). A request still running at that
point counts by the share that finished; a step whose wait the run time cuts short is left
unjudged (``unjudged_rate``) rather than failed for what had not come in. Latency percentiles,
errors and losses are those of the requests that completed in the window.

Goodput is compared at the nominal rates: a step's goodput is taken as its efficiency (good
requests / arrivals due in the same window, so both carry the same Poisson noise) times its
nominal rate. Below capacity every arrival is good and that is exactly the nominal rate, so a
window that happened to get fewer arrivals cannot end the sweep; past the knee good requests
stop following the arrivals and the efficiency falls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._arrivals import sweep_rate

Tick = tuple[int, float] | None
MAX_RATE_STEPS = 32
MIN_GOODPUT_GAIN = 0.5  # share of the added arrival rate a step must turn into goodput


class OpenLoopShape:
    """One dispatcher per load process until the run time ends (or forever)."""

    def __init__(self, run_time: float | None, dispatchers: Callable[[], int]) -> None:
        self.run_time = run_time
        self.dispatchers = dispatchers

    def tick(self, t: float) -> Tick:
        if self.run_time is not None and t >= self.run_time:
            return None
        n = max(1, self.dispatchers())
        return n, float(n)


@dataclass
class RateStep:
    rate: float
    view: dict[str, Any]
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    @property
    def due_per_s(self) -> float:
        return self.view["arrivals"]["due"] / self.view["duration_s"]

    @property
    def goodput_rps(self) -> float:
        return self.view["goodput"]["requests_per_s"]

    @property
    def efficiency(self) -> float:
        """Good requests per arrival due in the window (at most 1: a window can catch answers
        to arrivals of the one before, which says nothing about this step)."""
        due = self.view["arrivals"]["due"]
        return min(1.0, self.view["goodput"]["requests"] / due) if due else 0.0

    @property
    def nominal_goodput(self) -> float:
        return self.efficiency * self.rate

    @property
    def loss_rate(self) -> float:
        req, arr = self.view["requests"], self.view["arrivals"]
        attempts = req["total"] + arr["dropped"]
        lost = req["errors"] + req["shed"] + arr["dropped"]
        return lost / attempts if attempts else 0.0

    def as_dict(self) -> dict[str, Any]:
        req, arr, good = self.view["requests"], self.view["arrivals"], self.view["goodput"]
        metrics = self.view["metrics"]
        return {
            "rate": self.rate,
            "passed": self.passed,
            "violations": self.violations,
            "due_per_s": self.due_per_s,
            "sent_per_s": arr["sent_per_s"],
            "requests_per_s": self.view["throughput"]["requests_per_s"],
            "output_tokens_per_s": self.view["throughput"]["output_tokens_per_s"],
            "goodput_rps": good["requests_per_s"],
            "goodput_output_tokens_per_s": good["output_tokens_per_s"],
            "goodput_ratio": good["ratio"],
            "efficiency": self.efficiency,
            "loss_rate": self.loss_rate,
            "requests": req["total"],
            "errors": req["errors"],
            "shed": req["shed"],
            "dropped": arr["dropped"],
            "late": arr["late"],
            **{f"{m}_p95": metrics[m].get("p95") for m in ("ttft_ms", "itl_ms", "e2e_ms")},
        }


@dataclass
class RateSweepParams:
    start: float
    step: float = 0.0  # 0: double
    step_time: float = 15.0
    max_loss: float = 0.05
    settle: float = 1.5
    report_lag: float = 1.5  # until every process has reported what it finished by then


@dataclass
class _Closed:
    """A step whose window has ended, waiting for the requests in flight at its end."""

    index: int
    view: dict[str, Any]
    start_s: float
    end_s: float
    judge_at: float


class RateSweep:
    name = "rate-sweep"

    def __init__(
        self,
        params: RateSweepParams,
        run_time: float | None,
        dispatchers: Callable[[], int],
        reset_window: Callable[[], None],
        read_window: Callable[[], dict[str, Any]],
        judge: Callable[[dict[str, Any]], list[str]],
        credit: Callable[[dict[str, Any], float, float], dict[str, Any]] = lambda v, a, b: v,
    ) -> None:
        """``read_window`` closes the step's window (completions, latencies, arrivals);
        ``credit(view, start_s, end_s)`` puts what the window produced into that view."""
        self.p = params
        self.run_time = run_time
        self.dispatchers = dispatchers
        self.reset_window, self.read_window, self.judge = reset_window, read_window, judge
        self.credit = credit
        self.index = 0
        self.window_open = False
        self.window_start_s = 0.0
        self.closed: _Closed | None = None
        self.unjudged: float | None = None  # a step the run time ended before it was judged
        self.steps: list[RateStep] = []
        self.stopped_by: str | None = None

    def _stop(self, reason: str) -> Tick:
        self.stopped_by = self.stopped_by or reason
        return None

    def tick(self, t: float) -> Tick:
        if self.stopped_by is not None:
            return None
        index = int(t // self.p.step_time)
        ended = self.run_time is not None and t >= self.run_time
        if self.closed is not None and (index > self.index or t >= self.closed.judge_at):
            step = self._finish_step(self.closed)
            self.closed = None
            if not step.passed:
                return self._stop("; ".join(step.violations))
        elif self.closed is not None and ended:
            # Its last requests are not all in: judged now, it could fail for what is missing.
            self.unjudged = sweep_rate(self.p.start, self.p.step, self.closed.index)
            self.closed = None
        if index > self.index:
            if self.window_open:
                self._close_step(t)
            self.index, self.window_open = index, False
        if ended:
            return self._stop("run time")
        if self.index >= MAX_RATE_STEPS:
            return self._stop(f"{MAX_RATE_STEPS} steps")
        if not self.window_open and t - self.index * self.p.step_time >= self.p.settle:
            self.reset_window()
            # The window's nominal bounds, not the ticks' (a tick comes up to a second late):
            # the arrivals follow the nominal steps.
            self.window_open = True
            self.window_start_s = self.index * self.p.step_time + self.p.settle
        n = max(1, self.dispatchers())
        return n, float(n)

    def _close_step(self, t: float) -> None:
        view = self.read_window()
        e2e_p99_s = (view["metrics"]["e2e_ms"].get("p99") or 0.0) / 1000.0
        wait = min(self.p.report_lag + e2e_p99_s, self.p.step_time)
        end_s = (self.index + 1) * self.p.step_time
        self.closed = _Closed(self.index, view, self.window_start_s, end_s, t + max(0.0, wait))

    def _finish_step(self, closed: _Closed) -> RateStep:
        view = self.credit(closed.view, closed.start_s, closed.end_s)
        rate = sweep_rate(self.p.start, self.p.step, closed.index)
        step = RateStep(rate, view, self.judge(view))
        if not view["requests"]["ok"]:
            step.violations.append("no request finished during the step")
        if step.loss_rate > self.p.max_loss:
            step.violations.append(
                f"errors+shed+dropped {step.loss_rate:.2%} > {self.p.max_loss:.2%}"
            )
        previous = self.steps[-1] if self.steps else None
        floor = MIN_GOODPUT_GAIN * step.rate
        if previous is not None:
            floor = previous.nominal_goodput + MIN_GOODPUT_GAIN * (step.rate - previous.rate)
        if step.nominal_goodput < floor:
            step.violations.append(
                f"goodput stopped growing: {step.efficiency:.0%} of arrivals good = "
                f"{step.nominal_goodput:.2f}/s < {floor:.2f}/s"
            )
        self.steps.append(step)
        return step

    def knee(self) -> dict[str, Any] | None:
        good = [s for s in self.steps if s.passed]
        return good[-1].as_dict() if good else None

    def report(self) -> dict[str, Any]:
        return {
            "steps": [s.as_dict() for s in self.steps],
            "knee": self.knee(),
            "stopped_by": self.stopped_by,
            "unjudged_rate": self.unjudged,
            "step_time_s": self.p.step_time,
            "start_rate": self.p.start,
            "rate_step": self.p.step,
        }
