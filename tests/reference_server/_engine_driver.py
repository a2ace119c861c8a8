"""Drives the product's `BatchingEngine` by hand on the test's thread, over the pure-Python
`FakeBackend`: submit, read, cancel and step one pass at a time, then check the engine's
invariants. No engine thread runs, so every interleaving is the test's choice and repeatable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from reference_server.engine import BatchingEngine, GenerationRequest, SamplingParams
from reference_server.engine._channel import EventChannel
from reference_server.engine.base import EngineNotReady, QueueFull
from tests.reference_server._fake_backend import FakeBackend

DRAIN_PASSES = 5_000  # far more than any drained test needs; a hang fails instead


@dataclass(eq=False)
class Tracked:
    """One submitted request as its reader sees it."""

    channel: EventChannel
    events: list[Any] = field(default_factory=list)
    ended: bool = False
    error: BaseException | None = None
    dropped_in_queue: bool = False  # cancelled before it got sequences: never closed

    @property
    def finished(self) -> bool:
        return self.ended or self.dropped_in_queue


class EngineDriver:
    def __init__(self, backend: FakeBackend, **engine_options: Any) -> None:
        options = {"max_queue": 2, "stream_buffer": 3, "stall_timeout": 3600.0} | engine_options
        self.backend = backend
        self.engine = BatchingEngine(lambda: backend, **options)
        assert self.engine.load()
        self.loop = asyncio.new_event_loop()
        self.requests: list[Tracked] = []
        self.shed = 0

    def close(self) -> None:
        self.loop.close()

    # -- the reader's side -----------------------------------------------------------------------

    def submit(self, prompt: str, max_tokens: int, n: int = 1) -> Tracked | None:
        """The request's record, or None when it was shed or the engine is down."""
        tokens = tuple(self.backend.tokenize(prompt, add_bos=True, special=False))
        request = GenerationRequest(tokens, SamplingParams(max_tokens=max_tokens, seed=7), n=n)

        async def submit() -> EventChannel:
            return self.engine._submit(request)

        try:
            channel = self.loop.run_until_complete(submit())
        except (QueueFull, EngineNotReady):
            self.shed += 1
            return None
        tracked = Tracked(channel)
        self.requests.append(tracked)
        return tracked

    def read(self, tracked: Tracked, limit: int) -> None:
        """Reads up to `limit` events that are already there (never waits)."""
        channel = tracked.channel
        for _ in range(limit):
            if tracked.ended or channel.backlog == 0:
                return
            try:
                tracked.events.append(self.loop.run_until_complete(channel.get()))
            except StopAsyncIteration:
                tracked.ended = True
            except Exception as exc:
                tracked.ended, tracked.error = True, exc

    def embed(self, token_lists: list[list[int]]) -> asyncio.Task[list[list[float]]]:
        """An embedding request, queued on the engine; its task ends once a step settles it."""
        task = self.loop.create_task(self.engine.embed(token_lists))
        self.loop.run_until_complete(asyncio.sleep(0))  # runs up to the queue
        return task

    def cancel(self, tracked: Tracked) -> None:
        if tracked.finished:
            return
        if tracked.channel.owner in self.engine._waiting:
            tracked.dropped_in_queue = True
        self.engine._abandon(tracked.channel)

    def step(self) -> bool:
        worked = self.engine.run_once()
        # The wakes the engine scheduled; a second round lets a task see its settled future.
        for _ in range(2):
            self.loop.run_until_complete(asyncio.sleep(0))
        return worked

    def drain(self) -> None:
        """Reads everything and steps until every request has ended."""
        for _ in range(DRAIN_PASSES):
            for tracked in self.requests:
                self.read(tracked, 1_000)
            if all(t.finished for t in self.requests):
                return
            self.step()
        open_ = [t for t in self.requests if not t.finished]
        raise AssertionError(f"{len(open_)} requests never ended in {DRAIN_PASSES} passes")

    # -- invariants ------------------------------------------------------------------------------

    def check(self) -> None:
        engine, backend = self.engine, self.backend
        assert not backend.violations, backend.violations[:3]
        scheduler = engine._scheduler
        assert scheduler is not None
        slots = scheduler.slots
        choices = [s.choice for s in slots if s.choice is not None]
        # No sequence double-booked: a choice is on one slot, and that slot is its own.
        assert len({id(c) for c in choices}) == len(choices)
        assert all(c.slot is s for s in slots if (c := s.choice) is not None)
        assert all(not c.job.done for c in choices), "a finished request still holds a sequence"
        # Reserved sequences are the busy ones, plus those handed to requests not yet admitted.
        handed = sum(job.width for job in engine._started)
        assert engine.running == len(choices) + handed, (engine.running, len(choices), handed)
        assert backend.open_samplers == len(choices)
        # Cells are freed or cached: each sequence's cells are exactly what its slot records.
        for slot in slots:
            held = backend.cells[slot.seq_id]
            expect = range(len(slot.cached))
            lowest = min(held, default=len(slot.cached))
            if backend.window <= 0:
                assert lowest == 0 or not held, (slot.seq_id, sorted(held))
            assert sorted(held) == list(range(lowest, len(slot.cached))), (
                slot.seq_id,
                sorted(held),
                len(slot.cached),
            )
            assert all(held[p] == slot.cached[p] for p in expect if p in held)
        extra = set(backend.cells) - {s.seq_id for s in slots}
        assert not any(backend.cells[s] for s in extra), extra
        # Every request that ended did so once, and the engine counted it once.
        for tracked in self.requests:
            if tracked.ended:
                assert tracked.channel.backlog <= 1, "events after a request's end"
        closed = sum(t.channel.closed for t in self.requests)
        dropped = sum(t.dropped_in_queue and not t.channel.closed for t in self.requests)
        counted = engine.completed_jobs + engine.cancelled_jobs + engine.failed_jobs
        assert counted == closed + dropped, (counted, closed, dropped)
