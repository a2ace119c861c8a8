"""Load shapes as plain objects: ``tick(t) -> (users, spawn_rate) | None``.

``loadtests/shape.py`` holds the single LoadTestShape Locust sees; it picks one of these by
``--shape``. Here they are free of Locust so that their timelines are easy to test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Tick = tuple[int, float] | None

DEFAULT_TIMED_RUN_S = 60.0  # ramp/spike need a length to scale against when -t is not given
DEFAULT_SOAK_S = 1800.0


@dataclass
class ShapeParams:
    users: int = 1
    spawn_rate: float = 1.0
    run_time: float | None = None


class Constant:
    name = "constant"

    def __init__(self, p: ShapeParams) -> None:
        self.p = p

    def tick(self, t: float) -> Tick:
        if self.p.run_time is not None and t >= self.p.run_time:
            return None
        return self.p.users, self.p.spawn_rate


class Ramp:
    """Linear ramp from 1 user to -u over the run time."""

    name = "ramp"

    def __init__(self, p: ShapeParams) -> None:
        self.p = p
        self.length = p.run_time or DEFAULT_TIMED_RUN_S

    def tick(self, t: float) -> Tick:
        if t >= self.length:
            return None
        users = max(1, math.ceil(self.p.users * t / self.length))
        # Fast enough to reach each one-second target before the next tick.
        return users, max(self.p.spawn_rate, self.p.users / self.length * 2)


class Spike:
    """A quarter of -u, then all of -u during the middle fifth of the run, then back down."""

    name = "spike"

    def __init__(self, p: ShapeParams) -> None:
        self.p = p
        self.length = p.run_time or DEFAULT_TIMED_RUN_S
        self.base = max(1, p.users // 4)

    def tick(self, t: float) -> Tick:
        if t >= self.length:
            return None
        in_spike = 0.4 * self.length <= t < 0.6 * self.length
        return (self.p.users if in_spike else self.base), max(self.p.spawn_rate, self.p.users)


class Soak(Constant):
    """-u users held for a long time (30 minutes unless -t says otherwise)."""

    name = "soak"

    def __init__(self, p: ShapeParams) -> None:
        super().__init__(ShapeParams(p.users, p.spawn_rate, p.run_time or DEFAULT_SOAK_S))


@dataclass
class SweepParams:
    start: int = 1
    step: int = 0  # 0: double
    step_time: float = 15.0
    max_error_rate: float = 0.05
    settle: float = 1.5  # seconds of each step left out of its measurement window


@dataclass
class Step:
    users: int
    view: dict[str, Any]
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        req, thr = self.view["requests"], self.view["throughput"]
        metrics = self.view["metrics"]
        return {
            "users": self.users,
            "passed": self.passed,
            "violations": self.violations,
            "requests": req["total"],
            "error_rate": req["error_rate"],
            "shed_rate": req["shed_rate"],
            "requests_per_s": thr["requests_per_s"],
            "output_tokens_per_s": thr["output_tokens_per_s"],
            **{f"{m}_p95": metrics[m].get("p95") for m in ("ttft_ms", "itl_ms", "e2e_ms")},
        }


class Sweep:
    """Step concurrency up until a step breaks the objectives; the last good step is saturation.

    ``window`` is called twice per step: once after ``settle`` seconds to start a fresh
    measurement (dropping the ramp-up and samples still in flight from the previous level),
    and once at the end of the step to return that step's view.
    """

    name = "sweep"

    def __init__(
        self,
        p: ShapeParams,
        sp: SweepParams,
        reset_window: Callable[[], None],
        read_window: Callable[[], dict[str, Any]],
        judge: Callable[[dict[str, Any]], list[str]],
    ) -> None:
        self.p, self.sp = p, sp
        self.reset_window, self.read_window, self.judge = reset_window, read_window, judge
        self.users = max(1, sp.start)
        self.step_started = 0.0
        self.window_open = False
        self.steps: list[Step] = []
        self.done = False

    def _next_users(self) -> int:
        return self.users + self.sp.step if self.sp.step > 0 else self.users * 2

    def tick(self, t: float) -> Tick:
        if self.done or (self.p.run_time is not None and t >= self.p.run_time):
            self.done = True
            return None
        elapsed = t - self.step_started
        if not self.window_open and elapsed >= self.sp.settle:
            self.reset_window()
            self.window_open = True
        if elapsed >= self.sp.step_time and self.window_open:
            step_view = self.read_window()
            step = Step(self.users, step_view, self.judge(step_view))
            req = step_view["requests"]
            lost = req["errors"] + req["shed"]
            if req["total"] and lost / req["total"] > self.sp.max_error_rate:
                step.violations.append(
                    f"errors+shed {lost / req['total']:.2%} > {self.sp.max_error_rate:.2%}"
                )
            if not req["total"]:
                step.violations.append("no request finished during the step")
            self.steps.append(step)
            if not step.passed or self._next_users() > self.p.users:
                self.done = True
                return None
            self.users = self._next_users()
            self.step_started = t
            self.window_open = False
        return self.users, max(self.p.spawn_rate, float(self.users))

    def saturation(self) -> dict[str, Any] | None:
        good = [s for s in self.steps if s.passed]
        return good[-1].as_dict() if good else None

    def report(self) -> dict[str, Any]:
        return {
            "steps": [s.as_dict() for s in self.steps],
            "saturation": self.saturation(),
            "step_time_s": self.sp.step_time,
        }
