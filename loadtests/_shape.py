"""The one LoadTestShape of these profiles; ``--shape`` picks the timeline it follows.

Locust allows a single active shape class, so constant/ramp/spike/soak/sweep live behind this
dispatcher (see ``_shapes.py``). It honours -u (peak users), -r (spawn rate) and -t (run time).
In open loop (``--arrival``) the processes follow the rate themselves and the shape keeps one
dispatcher user per process (see ``_rate_sweep.py``, which also holds the rate sweep).
"""

from __future__ import annotations

import time
from typing import Any

from locust import LoadTestShape

from ._events import end_of_load
from ._open_loop import DEFAULT_TIMED_RUN_S
from ._rate_sweep import OpenLoopShape, RateSweep, RateSweepParams
from ._recorder import RECORDER
from ._run_state import RUN
from ._settings import SETTINGS
from ._shapes import DEFAULT_SOAK_S, Constant, Ramp, ShapeParams, Soak, Spike, Sweep, SweepParams
from ._slo import check
from ._summary import credited, view
from ._timeline import between, credit_between
from ._trace import trace_length_s
from ._window import Credit

# After the load ends, workers still hold samples of requests that finished since their last
# report; they report every 3 s, so the master waits a little longer than that before stopping.
WORKER_REPORT_WAIT_S = 4.0
MAX_DRAIN_S = 600.0
TRACE_TAIL_S = 30.0  # --trace without -t: the run ends this long after the last arrival
DRAIN_SPAWN_RATE = 50.0  # stop rate per second; Locust warns above 100 per worker


class LLMLoadShape(LoadTestShape):
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._impl: Any = None
        self._drain_started: float | None = None
        self._users_gone_at: float | None = None

    def reset_time(self) -> None:
        super().reset_time()
        self._impl = None
        self._drain_started = None
        self._users_gone_at = None

    def _build(self) -> Any:
        options = self.runner.environment.parsed_options if self.runner else None
        params = ShapeParams(
            users=int(getattr(options, "num_users", None) or 1),
            spawn_rate=float(getattr(options, "spawn_rate", None) or 1.0),
            run_time=getattr(options, "run_time", None) or None,
        )
        name = getattr(options, "shape", "constant") or "constant"
        RUN.shape_name = name
        RUN.shape_report = {
            "name": name,
            "users": params.users,
            "spawn_rate": params.spawn_rate,
            "run_time_s": params.run_time,
        }
        step_time = float(getattr(options, "sweep_step_time", 15.0))
        # Worker samples reach the master up to one report interval late.
        settle = min(step_time * 0.3, 3.5 if RUN.is_master else 1.5)
        max_loss = float(getattr(options, "sweep_max_error_rate", 0.05))
        if SETTINGS.open_loop:
            return self._build_open_loop(name, params.run_time, step_time, settle, max_loss)
        if name == "sweep":
            sweep_params = SweepParams(
                start=int(getattr(options, "sweep_start", 1)),
                step=int(getattr(options, "sweep_step", 0)),
                step_time=step_time,
                max_error_rate=max_loss,
                settle=settle,
            )
            return Sweep(params, sweep_params, self._reset_window, self._read_window, self._judge)
        shapes = {"constant": Constant, "ramp": Ramp, "spike": Spike, "soak": Soak}
        return shapes[name](params)

    def _build_open_loop(
        self, name: str, run_time: float | None, step_time: float, settle: float, max_loss: float
    ) -> Any:
        RUN.shape_report.update({"users": None, "spawn_rate": None, "rate": SETTINGS.rate})
        if name == "rate-sweep":
            options = self.runner.environment.parsed_options if self.runner else None
            params = RateSweepParams(
                start=SETTINGS.rate,
                step=float(getattr(options, "sweep_step", 0) or 0),
                step_time=step_time,
                max_loss=max_loss,
                settle=settle,
                report_lag=WORKER_REPORT_WAIT_S if RUN.is_master else settle,
            )
            return RateSweep(
                params,
                run_time,
                self._dispatchers,
                self._reset_window,
                self._read_window,
                self._judge,
                self._credit_window,
            )
        if SETTINGS.trace and run_time is None:  # the trace, then time for its last answers
            run_time = trace_length_s(SETTINGS.trace, SETTINGS.trace_speed) + TRACE_TAIL_S
        if name in ("ramp", "spike"):
            run_time = run_time or DEFAULT_TIMED_RUN_S
        elif name == "soak":
            run_time = run_time or DEFAULT_SOAK_S
        return OpenLoopShape(run_time, self._dispatchers)

    def _dispatchers(self) -> int:
        """One open-loop dispatcher per load process."""
        return max(1, int(getattr(self.runner, "worker_count", 1))) if RUN.is_master else 1

    @staticmethod
    def _reset_window() -> None:
        RECORDER.aggregate.new_window()

    @staticmethod
    def _read_window() -> dict[str, Any]:
        window = RECORDER.aggregate.new_window()
        return view(window.counts, window.metrics, time.monotonic() - window.started)

    @staticmethod
    def _credit_window(step_view: dict[str, Any], start_s: float, end_s: float) -> dict[str, Any]:
        buckets = RECORDER.aggregate.timeline
        produced = credit_between(buckets, start_s, end_s)
        due = between(buckets, start_s, end_s, ("arrivals",))["arrivals"]
        return credited(step_view, Credit(**produced), due)

    @staticmethod
    def _judge(step_view: dict[str, Any]) -> list[str]:
        return check(RUN.slo, step_view, throughput=False)

    def tick(self) -> tuple[int, float] | None:
        if self._impl is None:
            self._impl = self._build()
        if self._drain_started is None:
            result = self._impl.tick(self.get_run_time())
            if isinstance(self._impl, Sweep | RateSweep):
                RUN.shape_report.update(self._impl.report())
            if result is not None:
                return result
            self._drain_started = time.monotonic()
            end_of_load(self.runner)
        return self._drain()

    def _drain(self) -> tuple[int, float] | None:
        """Let users finish their requests and workers report them before the run ends."""
        if not RUN.is_master:
            return None  # a local runner stops its users gracefully by itself on quit
        now = time.monotonic()
        if now - (self._drain_started or now) > MAX_DRAIN_S:
            return None
        if self.runner is not None and self.runner.user_count > 0:
            return 0, DRAIN_SPAWN_RATE
        if self._users_gone_at is None:
            self._users_gone_at = now
        if now - self._users_gone_at < WORKER_REPORT_WAIT_S:
            return 0, DRAIN_SPAWN_RATE
        return None
