"""`BatchingEngine`: one model, one thread that alone touches its llama.cpp objects, many
sequences decoded together, and a bounded queue in front."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping

from ._channel import EventChannel, Waker, schedule_wake
from ._embeddings import EmbedJob, EmbedPacer, embed_slice, plan_slice, settle
from ._recovery import MAX_RESTARTS, RESTART_WINDOW_S, RestartBudget, clean_backend
from ._scheduler import CANCELLED, COMPLETED, FAILED, Scheduler
from ._sequence import Job
from ._step_counts import StepCounts
from ._stream import EngineStream
from .backend import Backend, BackendLoader, ModelFacts
from .base import EngineFailed, EngineNotReady, EngineStats, QueueFull
from .types import GenerationRequest

log = logging.getLogger("reference_server.engine")

# Consumers are woken at most this often (see Waker): a thousandth of a second is nothing to a
# reader, and lets a fast model hand over a few tokens per wake instead of one.
WAKE_INTERVAL_S = 0.001


class BatchingEngine:
    """Implements `Engine` (engine/base.py) on a `Backend` loaded on the engine's thread.

    Admission counts sequences: a request of `n` choices needs min(n, parallel) of them; one
    that finds too few free waits in a FIFO queue of `max_queue` places, and one that finds the
    queue full is shed (QueueFull).

    An exception that escapes a pass of the engine loop (one outside a decode step's own error
    handling) fails every request the engine holds or has queued with `EngineFailed`, frees
    their sequences and cells, and restarts the loop on a clean backend, at most
    `max_restarts` times within `restart_window` seconds; past that it gives up (`given_up`).
    """

    def __init__(
        self,
        load_backend: BackendLoader,
        *,
        max_queue: int = 16,
        stream_buffer: int = 32,
        stall_timeout: float = 30.0,
        max_restarts: int = MAX_RESTARTS,
        restart_window: float = RESTART_WINDOW_S,
    ) -> None:
        self._load_backend = load_backend
        self.max_queue = max_queue
        self.stream_buffer = stream_buffer
        self.stall_timeout = stall_timeout
        self._lock = threading.Lock()  # guards the queues and every counter below
        self._work = threading.Condition(self._lock)
        self._signalled = False
        self._stopping = False
        self._waiting: deque[Job] = deque()  # admitted to the queue, not yet to sequences
        self._started: deque[Job] = deque()  # given sequences, not yet seen by the scheduler
        self._embeds: deque[EmbedJob] = deque()
        self._in_hand: list[Job] = []  # taken from _started, being admitted
        self._embeds_in_hand: list[EmbedJob] = []  # the batch being embedded, in slices
        self._pacer = EmbedPacer()
        self._reserved = 0  # sequences given to requests
        self._parallel = 1
        self._thread = threading.Thread(target=self._main, name="llama-engine", daemon=True)
        self._ready = threading.Event()
        self._load_error: BaseException | None = None
        self._fault: BaseException | None = None
        self._given_up = False
        self._restart_budget = RestartBudget(max_restarts, restart_window)
        self._backend: Backend | None = None
        self._scheduler: Scheduler | None = None
        self._waker = Waker(WAKE_INTERVAL_S)
        self.completed_jobs = 0
        self.cancelled_jobs = 0
        self.failed_jobs = 0
        self.restarts = 0
        self._finish_times: deque[float] = deque(maxlen=64)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._work:
            self._stopping = True
            self._work.notify_all()

    def join(self, timeout: float) -> bool:
        """Waits for the thread to end after `stop()`; False if it is still running."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close_unthreaded(self) -> None:
        """Ends an engine that was driven by hand (`load`, `run_once`) and frees its model."""
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._load_error is None and self._fault is None

    @property
    def load_error(self) -> BaseException | None:
        return self._load_error

    @property
    def fault(self) -> BaseException | None:
        return self._fault

    @property
    def given_up(self) -> bool:
        """The engine thread failed more often than it may restart: it serves nothing more."""
        return self._given_up

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self.ready

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
        with self._lock:
            times = list(self._finish_times)
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    def stats(self) -> EngineStats:
        scheduler = self._scheduler
        return scheduler.stats() if scheduler else StepCounts().stats(0, self._parallel)

    # -- requests (event loop side) ------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> EngineStream:
        return EngineStream(self, request)

    async def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        if not self.ready:
            raise EngineNotReady("model is not loaded")
        loop = asyncio.get_running_loop()
        job = EmbedJob(token_lists, loop.create_future(), loop)
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

    def _retire(self, job: Job, outcome: str) -> None:
        # Only completed generations say how fast queue places drain (Retry-After): a failure
        # or a cancellation frees its place at a rate that has nothing to do with the model.
        with self._work:
            if outcome == COMPLETED:
                self.completed_jobs += 1
                self._finish_times.append(time.monotonic())
            elif outcome == CANCELLED:
                self.cancelled_jobs += 1
            else:
                self.failed_jobs += 1

    def load(self) -> bool:
        """Loads the backend on the calling thread (the engine's own, from `start()`); False
        when it failed (see `load_error`)."""
        try:
            backend = self._load_backend()
        except BaseException as exc:  # a broken model file must not kill the server
            self._load_error = exc
            self._ready.set()
            return False
        self._backend = backend
        self._parallel = backend.facts.n_seq
        self._scheduler = self._new_scheduler(backend)
        self._ready.set()
        return True

    def _new_scheduler(self, backend: Backend) -> Scheduler:
        return Scheduler(
            backend, stall_timeout=self.stall_timeout, release=self._release, retire=self._retire
        )

    def _main(self) -> None:
        if not self.load():
            return
        try:
            while not self._given_up:
                worked = self.run_once()
                with self._work:
                    if self._stopping:
                        return
                    busy = self._started or self._embeds or self._embeds_in_hand
                    if not (worked or self._signalled or busy):
                        self._work.wait(self._scheduler.wait_timeout() if self._scheduler else None)
        except BaseException as exc:  # recovery itself failed: never die silently
            log.exception("engine for %s could not recover", self._thread.name)
            self._give_up(exc)
        finally:
            if self._scheduler is not None:
                self._scheduler.shutdown()
                schedule_wake(self._scheduler.woken)
            self._fail_waiting(EngineNotReady("the server is stopping"))
            if self._backend is not None:
                self._backend.close()

    def run_once(self) -> bool:
        """One pass of the engine loop on the calling thread (the engine's own; tests drive it
        by hand): admits, decodes one step, embeds a slice. False when there was nothing to do.
        An exception escaping the pass is the engine failing, and is recovered from here."""
        scheduler = self._scheduler
        if scheduler is None or self._given_up:
            return False
        try:
            return self._pass(scheduler)
        except Exception as exc:
            self._recover(scheduler, exc)
            return True

    def _pass(self, scheduler: Scheduler) -> bool:
        with self._work:
            self._signalled = False
            self._in_hand, self._started = list(self._started), deque()
            if not self._embeds_in_hand:  # one batch at a time: those waiting now go together
                self._embeds_in_hand, self._embeds = list(self._embeds), deque()
        for job in self._in_hand:
            scheduler.admit(job)
        self._in_hand = []
        # Requests whose whole prompt was cached have a first token before the step: it goes
        # out now (a first event is never held back), not after the step.
        resumed = scheduler.start_cached()
        if resumed:
            self._waker.add(scheduler.take_woken())
            self._waker.flush(now=time.monotonic())
        started = self._pacer.clock()
        worked = scheduler.step()
        self._pacer.stepped(self._pacer.clock() - started if worked else None)
        self._waker.add(scheduler.take_woken())
        embeds = self._embeds_in_hand
        chosen = plan_slice(embeds, self._pacer, generating=bool(scheduler.jobs)) if embeds else []
        # Tokens decoded go out before a slice is embedded, not after it.
        self._waker.flush(now=time.monotonic(), force=not worked or bool(chosen))
        if embeds:
            assert self._backend is not None
            embed_slice(self._backend, embeds, chosen, self._pacer)
            self._embeds_in_hand = [job for job in embeds if not job.ended]
        return worked or resumed or bool(embeds)

    def _recover(self, scheduler: Scheduler, exc: Exception) -> None:
        """Fails everything the engine held or had queued, then restarts on a clean backend."""
        log.error("engine thread failed; restarting it", exc_info=exc)
        self._fault = exc  # /health says failed until the restart is done
        error = EngineFailed(f"the engine failed ({type(exc).__name__}: {exc}) and restarts")
        ended = scheduler.abandon(error)
        self._fail_waiting(error, also=[j for j in self._in_hand if not j.done])
        self._in_hand = []
        schedule_wake({job.channel for job in ended})
        with self._work:
            self._reserved = sum(job.width for job in self._started)  # none of the old are left
        assert self._backend is not None
        try:
            self._backend = clean_backend(self._backend, self._load_backend)
        except Exception as reload_error:
            self._backend = None
            self._give_up(reload_error)
            return
        self._scheduler = self._new_scheduler(self._backend)
        if not self._restart_budget.allow(time.monotonic()):
            self._give_up(exc)
            return
        with self._work:
            self.restarts += 1
        self._fault = None

    def _give_up(self, exc: BaseException) -> None:
        log.error("engine thread failed and may not restart; it stops serving", exc_info=exc)
        self._fault = exc
        self._given_up = True
        self._fail_waiting(EngineFailed(f"the engine failed ({type(exc).__name__}: {exc})"))

    def _fail_waiting(self, error: BaseException, also: list[Job] | None = None) -> None:
        """Ends every queued request (and `also`) with `error`, and every embedding request."""
        with self._work:
            jobs = [*(also or []), *self._waiting, *self._started]
            self._waiting, self._started = deque(), deque()
            embeds = [*self._embeds_in_hand, *self._embeds]
            self._embeds_in_hand, self._embeds = [], deque()
        for job in jobs:
            job.channel.close(error)
            job.done = True
            self._retire(job, CANCELLED if job.channel.cancelled else FAILED)
        schedule_wake({job.channel for job in jobs})
        for embed in embeds:
            settle(embed, None, error)
