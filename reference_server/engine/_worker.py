"""One model, one thread: the llama.cpp objects are never touched from anywhere else."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import _llama
from ._channel import EventChannel, StreamStalled
from ._text import TextAssembler
from .types import ChoiceFinished, GenerationDone, GenerationEvent, GenerationRequest, TextDelta


class QueueFull(Exception):
    """The admission queue is at capacity; the request is shed, not queued."""

    def __init__(self, message: str, worker: ModelWorker) -> None:
        super().__init__(message)
        self.worker = worker


class EngineNotReady(Exception):
    """The model is still loading or failed to load."""


@dataclass(eq=False)
class _Job:
    run: Callable[[Any, EventChannel], bool]
    channel: EventChannel
    enqueued_at: float = field(default_factory=time.monotonic)


class GenerationStream:
    """An async iterator over one generation's events.

    A plain object rather than an async generator on purpose: cancelling a pending read (a
    timeout, a keep-alive tick) must not end the generation, while closing it must. Callers
    therefore always `aclose()` it when done.
    """

    def __init__(self, worker: ModelWorker, request: GenerationRequest) -> None:
        self._worker = worker
        self._request = request
        self._channel: EventChannel | None = None
        self._finished = False

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> GenerationEvent:
        if self._finished:
            raise StopAsyncIteration
        if self._channel is None:
            worker, request = self._worker, self._request
            self._channel = worker._submit(
                lambda llama, ch: worker._run_generation(llama, ch, request)
            )
        try:
            return await self._channel.get()
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._finished = True  # the end, or the worker's error: nothing left to stop
            raise

    async def aclose(self) -> None:
        if self._channel is not None and not self._finished:
            self._worker._abandon(self._channel)
        self._finished = True


class ModelWorker:
    """Owns one model's llama.cpp objects on a dedicated thread and runs jobs one at a time.

    A generation keeps the model until its generator ends: llama.cpp contexts are not
    thread-safe, and interleaving two generators of one context corrupts both.
    """

    def __init__(
        self,
        options: _llama.LlamaOptions,
        *,
        max_queue: int = 16,
        stream_buffer: int = 32,
        stall_timeout: float = 30.0,
    ) -> None:
        self.options = options
        self.max_queue = max_queue
        self.stream_buffer = stream_buffer
        self.stall_timeout = stall_timeout
        self._jobs: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._running = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="llama-worker", daemon=True)
        self._ready = threading.Event()
        self.load_error: BaseException | None = None
        self._llama: Any = None
        self._embedder: Any = None
        self.metadata: dict[str, str] = {}
        self.completed_jobs = 0
        self.cancelled_jobs = 0
        self._finish_times: deque[float] = deque(maxlen=64)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.load_error is None

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self.load_error is None

    # -- model facts (the vocabulary is immutable after load, so reading it is thread-safe) ---

    @property
    def llama(self) -> Any:
        if not self.ready:
            raise EngineNotReady("model is not loaded")
        return self._llama

    def tokenize(self, text: str, *, add_bos: bool = True, special: bool = False) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llama.detokenize(tokens).decode("utf-8", errors="replace")

    @property
    def n_ctx(self) -> int:
        return _llama.context_size(self.llama)

    @property
    def n_vocab(self) -> int:
        return self.llama.n_vocab()

    @property
    def n_embd(self) -> int:
        return self.llama.n_embd()

    # -- load ------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._jobs)

    @property
    def capacity(self) -> int:
        return self.max_queue + 1

    def drain_rate(self) -> float:
        """Jobs finished per second over the recent past (0 when unknown)."""
        times = list(self._finish_times)
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    # -- public async API -------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationStream:
        """The events of one generation, submitted on the first read; `aclose()` cancels it."""
        return GenerationStream(self, request)

    async def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        channel = self._submit(lambda llama, ch: ch.put(self._run_embedding(token_lists)))
        try:
            return await channel.get()
        finally:
            self._abandon(channel)

    def _submit(self, run: Callable[[Any, EventChannel], bool]) -> EventChannel:
        if not self.ready:
            raise EngineNotReady("model is not loaded")
        channel = EventChannel(asyncio.get_running_loop(), self.stream_buffer, self.stall_timeout)
        with self._cv:
            if len(self._jobs) >= self.max_queue:
                raise QueueFull(f"{len(self._jobs)} requests already queued", self)
            self._jobs.append(_Job(run, channel))
            self._cv.notify()
        return channel

    def _abandon(self, channel: EventChannel) -> None:
        """Called when the consumer stops listening: frees a queued slot or stops the run."""
        if channel.cancelled.is_set():
            return
        channel.cancel()
        with self._cv:
            for job in self._jobs:
                if job.channel is channel:
                    self._jobs.remove(job)
                    self.cancelled_jobs += 1
                    break

    # -- worker thread ---------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._llama = _llama.load_generator(self.options)
            self.metadata = dict(self._llama.metadata)
        except BaseException as exc:  # a broken model file must not kill the server
            self.load_error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            with self._cv:
                while not self._jobs and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft()
                self._running += 1
            try:
                if job.run(self._llama, job.channel):
                    job.channel.close()
                else:
                    self.cancelled_jobs += 1
            except StreamStalled as exc:
                self.cancelled_jobs += 1
                job.channel.close(exc)
            except BaseException as exc:
                job.channel.close(exc)
            finally:
                with self._cv:
                    self._running -= 1
                    self.completed_jobs += 1
                    self._finish_times.append(time.monotonic())

    def _run_embedding(self, token_lists: list[list[int]]) -> list[list[float]]:
        if self._embedder is None:
            self._embedder = _llama.load_embedder(self.options, self.metadata)
        return _llama.embed_token_lists(self._embedder, token_lists)

    def _run_generation(
        self, llama: Any, channel: EventChannel, request: GenerationRequest
    ) -> bool:
        """Runs every choice in turn; False when the consumer went away."""
        prompt = list(request.prompt_tokens)
        budget = max(0, min(request.params.max_tokens, _llama.context_size(llama) - len(prompt)))
        total = 0
        for index in range(request.n):
            finished = self._generate_choice(llama, channel, prompt, index, budget, request)
            if finished is None:
                return False
            total += finished.completion_tokens
        return channel.put(GenerationDone(prompt_tokens=len(prompt), completion_tokens=total))

    def _generate_choice(
        self,
        llama: Any,
        channel: EventChannel,
        prompt: list[int],
        index: int,
        budget: int,
        request: GenerationRequest,
    ) -> ChoiceFinished | None:
        from llama_cpp import LlamaGrammar

        params = request.params
        seed = params.seed + index if params.seed is not None else random.getrandbits(32)
        llama.set_seed(seed & 0xFFFFFFFF)
        grammar = (
            LlamaGrammar.from_string(params.grammar, verbose=False) if params.grammar else None
        )
        assembler = TextAssembler(params.stop)
        pending_logprobs: list = []
        count = 0
        finish_reason = "length"
        generator = llama.generate(
            prompt,
            top_k=params.top_k if params.temperature > 0 else 1,
            top_p=params.top_p,
            min_p=params.min_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty,
            grammar=grammar,
            logits_processor=_llama.logit_bias_processor(params.logit_bias),
        )
        try:
            while count < budget:
                if channel.cancelled.is_set():
                    return None
                token = next(generator, None)
                if token is None:
                    break
                if _llama.is_end_of_generation(llama, token):
                    finish_reason = "stop"
                    break
                if params.logprobs is not None:
                    row = len(prompt) - 1 + count
                    pending_logprobs.append(
                        _llama.token_logprob(llama, row, token, params.logprobs)
                    )
                count += 1
                text = assembler.feed(_llama.token_piece(llama, token))
                if text:
                    if not channel.put(TextDelta(index, text, pending_logprobs)):
                        return None
                    pending_logprobs = []
                if assembler.stopped:
                    finish_reason = "stop"
                    break
        finally:
            generator.close()
        tail = assembler.flush()
        tail_event = TextDelta(index, tail, pending_logprobs)
        if (tail or pending_logprobs) and not assembler.stopped and not channel.put(tail_event):
            return None
        finished = ChoiceFinished(index, finish_reason, count)
        return finished if channel.put(finished) else None
