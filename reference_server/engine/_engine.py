"""`BatchingEngine`: one model, one thread that alone touches its llama.cpp objects, many
sequences decoded together, and a bounded queue in front."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._channel import EventChannel, Waker, schedule_wake
from ._scheduler import Scheduler
from ._sequence import Job
from .backend import Backend, BackendLoader, ModelFacts
from .base import BATCH_TOKEN_BUCKETS, EngineNotReady, EngineStats, QueueFull
from .types import GenerationEvent, GenerationRequest

# Consumers are woken at most this often (see Waker): a thousandth of a second is nothing to a
# reader, and lets a fast model hand over a few tokens per wake instead of one.
WAKE_INTERVAL_S = 0.001


@dataclass(eq=False)
class _EmbedJob:
    token_lists: list[list[int]]
    future: asyncio.Future[list[list[float]]]
    loop: asyncio.AbstractEventLoop


class _Stream:
    """A `GenerationStream`: a plain object rather than an async generator, so that a read
    cancelled by a timeout (keep-alive tick, deadline) does not end the generation."""

    def __init__(self, engine: BatchingEngine, request: GenerationRequest) -> None:
        self._engine = engine
        self._request = request
        self._channel: EventChannel | None = None
        self._finished = False

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> GenerationEvent:
        if self._finished:
            raise StopAsyncIteration
        if self._channel is None:
            self._channel = self._engine._submit(self._request)
        try:
            return await self._channel.get()
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._finished = True  # the end, or the engine's error: nothing left to stop
            raise

    async def aclose(self) -> None:
        if self._channel is not None and not self._finished:
            self._engine._abandon(self._channel)
        self._finished = True


class BatchingEngine:
    """Implements `Engine` (engine/base.py) on a `Backend` loaded on the engine's thread.

    Admission counts sequences: a request of `n` choices needs min(n, parallel) of them; one
    that finds too few free waits in a FIFO queue of `max_queue` places, and one that finds the
    queue full is shed (QueueFull).
    """

    def __init__(
        self,
        load_backend: BackendLoader,
        *,
        max_queue: int = 16,
        stream_buffer: int = 32,
        stall_timeout: float = 30.0,
    ) -> None:
        self._load_backend = load_backend
        self.max_queue = max_queue
        self.stream_buffer = stream_buffer
        self.stall_timeout = stall_timeout
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._signalled = False
        self._stopping = False
        self._waiting: deque[Job] = deque()  # admitted to the queue, not yet to sequences
        self._started: deque[Job] = deque()  # given sequences, not yet seen by the scheduler
        self._embeds: deque[_EmbedJob] = deque()
        self._reserved = 0  # sequences given to requests
        self._parallel = 1
        self._thread = threading.Thread(target=self._main, name="llama-engine", daemon=True)
        self._ready = threading.Event()
        self._load_error: BaseException | None = None
        self._backend: Backend | None = None
        self._scheduler: Scheduler | None = None
        self.completed_jobs = 0
        self.cancelled_jobs = 0
        self._finish_times: deque[float] = deque(maxlen=64)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._work:
            self._stopping = True
            self._work.notify_all()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._load_error is None

    @property
    def load_error(self) -> BaseException | None:
        return self._load_error

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self._load_error is None

    # -- model facts ---------------------------------------------------------------------------

    def _loaded(self) -> Backend:
        if not self.ready or self._backend is None:
            raise EngineNotReady("model is not loaded")
        return self._backend

    @property
    def _facts(self) -> ModelFacts:
        return self._loaded().facts

    @property
    def metadata(self) -> Mapping[str, str]:
        return self._facts.metadata

    @property
    def n_ctx(self) -> int:
        return self._facts.n_ctx

    @property
    def n_vocab(self) -> int:
        return self._facts.n_vocab

    @property
    def n_embd(self) -> int:
        return self._facts.n_embd

    @property
    def bos_text(self) -> str:
        return self._facts.bos_text

    @property
    def eos_text(self) -> str:
        return self._facts.eos_text

    @property
    def parallel(self) -> int:
        return self._parallel

    def tokenize(self, text: str, *, add_bos: bool = True, special: bool = False) -> list[int]:
        return self._loaded().tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: list[int]) -> str:
        return self._loaded().detokenize(tokens)

    # -- load ----------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        return self._reserved

    @property
    def queued(self) -> int:
        return len(self._waiting) + len(self._embeds)

    @property
    def capacity(self) -> int:
        return self._parallel + self.max_queue

    def drain_rate(self) -> float:
        times = list(self._finish_times)
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    def stats(self) -> EngineStats:
        scheduler = self._scheduler
        if scheduler is None:
            buckets = (0,) * (len(BATCH_TOKEN_BUCKETS) + 1)
            return EngineStats(0, self._parallel, 0, 0, 0, buckets, 0)
        return scheduler.stats()

    # -- requests (event loop side) ------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> _Stream:
        return _Stream(self, request)

    async def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        if not self.ready:
            raise EngineNotReady("model is not loaded")
        loop = asyncio.get_running_loop()
        job = _EmbedJob(token_lists, loop.create_future(), loop)
        with self._work:
            if self.queued >= self.max_queue:
                raise QueueFull(f"{self.queued} requests already queued", self)
            self._embeds.append(job)
            self._signal()
        return await job.future

    def _submit(self, request: GenerationRequest) -> EventChannel:
        if not self.ready or self._stopping:
            raise EngineNotReady("model is not loaded")
        if not request.prompt_tokens:
            raise ValueError("a generation needs at least one prompt token")
        channel = EventChannel(asyncio.get_running_loop(), self.stream_buffer, self._room)
        job = Job(request, channel, width=max(1, min(request.n, self._parallel)))
        channel.owner = job
        with self._work:
            if not self._waiting and self._reserved + job.width <= self._parallel:
                self._reserved += job.width
                self._started.append(job)
                self._signal()
            elif len(self._waiting) < self.max_queue:
                self._waiting.append(job)
            else:
                raise QueueFull(f"{len(self._waiting)} requests already queued", self)
        return channel

    def _abandon(self, channel: EventChannel) -> None:
        """The consumer stopped listening: free its queue place now, its sequences next step."""
        if channel.cancelled or channel.closed:
            channel.cancelled = True
            return
        channel.cancel()
        with self._work:
            job = channel.owner
            if job in self._waiting:
                self._waiting.remove(job)
                self.cancelled_jobs += 1
            self._signal()

    def _room(self) -> None:
        with self._work:
            self._signal()

    def _signal(self) -> None:
        self._signalled = True
        self._work.notify()

    # -- engine thread -------------------------------------------------------------------------

    def _release(self, sequences: int) -> None:
        """Sequences given back: hand them to queued requests, first come first served."""
        with self._work:
            self._reserved -= sequences
            while self._waiting and self._reserved + self._waiting[0].width <= self._parallel:
                job = self._waiting.popleft()
                self._reserved += job.width
                self._started.append(job)

    def _retire(self, job: Job, cancelled: bool) -> None:
        if cancelled:
            self.cancelled_jobs += 1
        self._record_finish()

    def _record_finish(self) -> None:
        self.completed_jobs += 1
        self._finish_times.append(time.monotonic())

    def _main(self) -> None:
        try:
            backend = self._load_backend()
        except BaseException as exc:  # a broken model file must not kill the server
            self._load_error = exc
            self._ready.set()
            return
        self._backend = backend
        self._parallel = backend.facts.n_seq
        scheduler = Scheduler(
            backend,
            stall_timeout=self.stall_timeout,
            release=self._release,
            retire=self._retire,
        )
        self._scheduler = scheduler
        self._ready.set()
        try:
            self._run(scheduler)
        finally:
            scheduler.shutdown()
            self._fail_waiting()
            schedule_wake(scheduler.woken)
            backend.close()

    def _run(self, scheduler: Scheduler) -> None:
        waker = Waker(WAKE_INTERVAL_S)
        while True:
            with self._work:
                if self._stopping:
                    return
                self._signalled = False
                started: list[Job] = []
                embeds: list[_EmbedJob] = []
                if self._started:
                    started, self._started = list(self._started), deque()
                if self._embeds:
                    embeds, self._embeds = list(self._embeds), deque()
            for job in started:
                scheduler.admit(job)
            if embeds:
                self._run_embeddings(embeds)
            worked = scheduler.step()
            if scheduler.woken:
                waker.add(scheduler.woken)
                scheduler.woken = set()
            waker.flush(now=time.monotonic(), force=not worked)
            if worked:
                continue
            with self._work:
                if not (self._signalled or self._stopping or self._started or self._embeds):
                    self._work.wait(scheduler.wait_timeout())

    def _run_embeddings(self, jobs: list[_EmbedJob]) -> None:
        """Every waiting embeddings request in one pass, so concurrent ones share decodes."""
        assert self._backend is not None
        live = [j for j in jobs if not j.future.cancelled()]
        flat = [tokens for job in live for tokens in job.token_lists]
        try:
            vectors = self._backend.embed(flat) if flat else []
        except Exception as exc:
            for job in live:
                _resolve(job, None, exc)
        else:
            start = 0
            for job in live:
                end = start + len(job.token_lists)
                _resolve(job, vectors[start:end], None)
                start = end
        for _ in jobs:
            self._record_finish()

    def _fail_waiting(self) -> None:
        with self._work:
            waiting, self._waiting = list(self._waiting) + list(self._started), deque()
            self._started = deque()
            embeds, self._embeds = list(self._embeds), deque()
        stopping = EngineNotReady("the server is stopping")
        for job in waiting:
            job.channel.close(stopping)
        schedule_wake({job.channel for job in waiting})
        for embed in embeds:
            _resolve(embed, None, stopping)


def _resolve(job: _EmbedJob, vectors: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(vectors)

    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is waiting
        job.loop.call_soon_threadsafe(settle)
