"""The engine's scheduler explored as a state machine (fast tier): requests arrive, steps run,
readers read slowly or not at all, clients cancel, the KV cache fills up and the engine thread
fails, in whatever order Hypothesis picks, over the pure-Python fake backend. After every rule:
no sequence is double-booked, reserved sequences are the busy ones, every sequence's cells are
what its slot records (freed or cached), the backend saw only steps a real cache could take,
and every request that ended did so once; at the end every admitted request has ended.

Derandomized and small: the same few hundred interleavings every run, in a few seconds."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.reference_server._engine_driver import EngineDriver, Tracked
from tests.reference_server._fake_backend import FakeBackend

# Prompts share prefixes, so that cached cells are found and reused.
PREFIXES = ("the system says hello", "the system says goodbye", "a different start")
SUFFIXES = ("", " and more", " with a question at the end")

BOUNDS = settings(
    max_examples=40,
    stateful_step_count=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class SchedulerMachine(RuleBasedStateMachine):
    WINDOW = 0  # a sliding-window cache when > 0

    @initialize()
    def start(self) -> None:
        self.backend = FakeBackend(n_seq=3, n_ctx=48, n_batch=12, window=self.WINDOW)
        self.driver = EngineDriver(self.backend, max_queue=2, stream_buffer=3, max_restarts=2)

    def teardown(self) -> None:
        driver = getattr(self, "driver", None)
        if driver is None:
            return
        try:
            self.backend.capacity = None
            self.backend.fault_armed = False
            driver.drain()
            driver.check()
            assert all(t.finished for t in driver.requests)
        finally:
            driver.close()

    def _pick(self, index: int) -> Tracked | None:
        requests = self.driver.requests
        return requests[index % len(requests)] if requests else None

    @rule(
        prefix=st.sampled_from(PREFIXES),
        suffix=st.sampled_from(SUFFIXES),
        max_tokens=st.integers(0, 12),
        n=st.integers(1, 3),
    )
    def admit(self, prefix: str, suffix: str, max_tokens: int, n: int) -> None:
        self.driver.submit(prefix + suffix, max_tokens, n=n)

    @rule(passes=st.integers(1, 4))
    def step(self, passes: int) -> None:
        for _ in range(passes):
            self.driver.step()

    @precondition(lambda self: self.driver.requests)
    @rule(index=st.integers(0, 50), count=st.integers(1, 8))
    def read(self, index: int, count: int) -> None:
        """The readers not picked are the slow ones: their channels fill and they sit out."""
        tracked = self._pick(index)
        assert tracked is not None
        self.driver.read(tracked, count)

    @precondition(lambda self: self.driver.requests)
    @rule(index=st.integers(0, 50))
    def cancel(self, index: int) -> None:
        tracked = self._pick(index)
        assert tracked is not None
        self.driver.cancel(tracked)

    @rule(room=st.integers(0, 6))
    def fill_the_cache(self, room: int) -> None:
        """Only `room` more cells fit: a windowed cache drops what fell out of its windows (now,
        and again when a step needs room); then steps are cut or refused."""
        self.backend.drop_outside_windows()
        self.backend.capacity = self.backend.used() + room

    @rule()
    def empty_the_cache(self) -> None:
        self.backend.capacity = None

    @rule()
    def engine_fault(self) -> None:
        """The next cache call the scheduler makes raises, outside a step's error handling."""
        self.backend.fault_armed = True

    @invariant()
    def holds(self) -> None:
        if hasattr(self, "driver"):
            self.driver.check()


class WindowedSchedulerMachine(SchedulerMachine):
    WINDOW = 4


SchedulerMachine.TestCase.settings = BOUNDS
WindowedSchedulerMachine.TestCase.settings = BOUNDS
TestScheduler = SchedulerMachine.TestCase
TestWindowedScheduler = WindowedSchedulerMachine.TestCase
