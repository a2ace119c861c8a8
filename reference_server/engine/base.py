"""What an engine offers the rest of the server (the engine boundary).

Handlers, the registry, flow control and /health, /metrics reach a model only through an object
that satisfies `Engine`; nothing outside `reference_server/engine/` touches llama-cpp-python.
`BatchingEngine` is the one implementation; tests plug a scripted backend in behind it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .types import GenerationEvent, GenerationRequest

# Upper bounds of the tokens-per-decode-step histogram.
BATCH_TOKEN_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class QueueFull(Exception):
    """Every sequence is busy and the admission queue is at capacity: the request is shed."""

    def __init__(self, message: str, worker: Engine) -> None:
        super().__init__(message)
        self.worker = worker


class EngineNotReady(Exception):
    """The model is still loading or failed to load."""


class StreamStalled(Exception):
    """The consumer stopped reading for longer than the stall timeout."""


class EngineFailed(Exception):
    """The engine thread failed outside a decode step: every request it held or had queued
    ends with this error (their work is lost, so a 500), and the engine restarts."""


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counters a scrape reads; monotonic except the two sequence gauges."""

    busy_sequences: int
    idle_sequences: int
    decode_steps: int
    prompt_tokens_evaluated: int
    prompt_tokens_reused: int
    # Cumulative counts per BATCH_TOKEN_BUCKETS bound, then the +Inf count.
    batch_token_buckets: tuple[int, ...]
    batch_tokens_total: int


class GenerationStream(Protocol):
    """One generation's events. Submitted on the first read; `aclose()` cancels it.

    Cancel-safe: a read cancelled by a timeout loses nothing, so callers may poll it with a
    deadline; they always `aclose()` it when done.
    """

    def __aiter__(self) -> AsyncIterator[GenerationEvent]: ...

    async def __anext__(self) -> GenerationEvent: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Engine(Protocol):
    """One served model: its facts, its load, and the two kinds of work."""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def ready(self) -> bool: ...

    @property
    def load_error(self) -> BaseException | None: ...

    @property
    def fault(self) -> BaseException | None:
        """The engine-thread failure the engine is down for (restarting, or given up); None
        while it serves."""
        ...

    @property
    def restarts(self) -> int:
        """Times the engine restarted after a failure of its thread."""
        ...

    @property
    def given_up(self) -> bool:
        """The engine's thread failed more often than it may restart: it serves nothing more,
        and the server stops so that a supervisor can start it afresh."""
        ...

    # -- model facts (valid once ready) ------------------------------------------------------
    @property
    def metadata(self) -> Mapping[str, str]: ...

    @property
    def n_ctx(self) -> int:
        """Tokens one sequence may hold (prompt + completion)."""
        ...

    @property
    def n_vocab(self) -> int: ...

    @property
    def n_embd(self) -> int: ...

    @property
    def bos_text(self) -> str: ...

    @property
    def eos_text(self) -> str: ...

    def tokenize(self, text: str, *, add_bos: bool = True, special: bool = False) -> list[int]: ...

    def detokenize(self, tokens: list[int]) -> str: ...

    # -- load, for admission and flow control -----------------------------------------------
    @property
    def running(self) -> int:
        """Sequences in use."""
        ...

    @property
    def queued(self) -> int:
        """Requests waiting for a sequence."""
        ...

    @property
    def capacity(self) -> int:
        """Sequences plus queue places."""
        ...

    @property
    def cancelled_jobs(self) -> int: ...

    def drain_rate(self) -> float:
        """Generations completed per second over the recent past (0 when unknown); failed
        and cancelled ones free a place without saying how fast work drains."""
        ...

    def stats(self) -> EngineStats: ...

    # -- work ----------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> GenerationStream: ...

    async def embed(self, token_lists: list[list[int]]) -> list[list[float]]: ...
