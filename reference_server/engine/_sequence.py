"""The scheduler's records: a request (`Job`), one choice of it (`Choice`), a KV sequence
(`Slot`), and what one sampled token does to a choice's text and events."""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, field

import numpy as np

from ._channel import EventChannel
from ._text import TextAssembler
from .backend import Backend, Logits, SequenceSampler
from .types import (
    ChoiceFinished,
    GenerationDone,
    GenerationRequest,
    TextDelta,
    TokenLogprob,
)


class Phase(enum.Enum):
    PREFILL = "prefill"  # feeding prompt tokens in chunks
    FOLLOW = "follow"  # waiting for a sibling's prefill, to share its prompt cells
    DECODE = "decode"  # one token per step


@dataclass(eq=False)
class Job:
    """One generation request: `n` choices run on up to `width` sequences at once."""

    request: GenerationRequest
    channel: EventChannel
    width: int
    budget: int = 0  # completion tokens per choice: max_tokens, within the context
    next_choice: int = 0
    running: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    blocked_since: float | None = None
    done: bool = False

    @property
    def prompt(self) -> tuple[int, ...]:
        return self.request.prompt_tokens

    def seed_for(self, index: int) -> int:
        seed = self.request.params.seed
        return seed + index if seed is not None else random.getrandbits(32)

    def finish(self) -> None:
        """All choices ended: usage, then the end of the stream."""
        self.channel.put(
            GenerationDone(
                prompt_tokens=len(self.prompt),
                completion_tokens=self.completion_tokens,
                cached_tokens=self.cached_tokens,
            )
        )
        self.channel.close()
        self.done = True


@dataclass(eq=False)
class Slot:
    """A KV sequence id and the tokens whose cells it holds (positions 0..len-1)."""

    seq_id: int
    cached: list[int] = field(default_factory=list)
    choice: Choice | None = None
    last_used: float = 0.0
    # The prompt whose generation these cells hold (its length, 0: none) and the logits of its
    # last token (None: not kept): an exact repeat starts from them without decoding anything.
    prompt_len: int = 0
    prompt_logits: np.ndarray | None = None

    def forget_prompt(self) -> None:
        self.prompt_len, self.prompt_logits = 0, None

    def empty(self) -> None:
        """After its cells were dropped."""
        self.cached = []
        self.forget_prompt()


@dataclass(eq=False)
class Choice:
    job: Job
    index: int
    slot: Slot
    sampler: SequenceSampler
    phase: Phase = Phase.PREFILL
    n_past: int = 0  # positions of this choice already in the KV cache
    next_token: int = -1  # sampled, decoded in the next step
    count: int = 0
    followers: list[Choice] = field(default_factory=list)
    assembler: TextAssembler = field(init=False)
    pending_logprobs: list[TokenLogprob] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.assembler = TextAssembler(self.job.request.params.stop)

    def accept(self, backend: Backend, token: int, row: Logits) -> str | None:
        """Applies one sampled token; returns the finish reason once the choice has ended."""
        job = self.job
        if backend.is_end_of_generation(token):
            return "stop"
        top_n = job.request.params.logprobs
        if top_n is not None:
            self.pending_logprobs.append(backend.logprob(row, token, top_n))
        self.count += 1
        text = self.assembler.feed(backend.token_piece(token))
        if text:
            job.channel.put(TextDelta(self.index, text, self.pending_logprobs))
            self.pending_logprobs = []
        if self.assembler.stopped:
            return "stop"
        if self.count >= job.budget:
            return "length"
        self.next_token = token
        return None

    def end(self, finish_reason: str) -> None:
        """The last text held back (unless a stop string ended it), then the finish event."""
        tail = self.assembler.flush()
        if (tail or self.pending_logprobs) and not self.assembler.stopped:
            self.job.channel.put(TextDelta(self.index, tail, self.pending_logprobs))
        self.pending_logprobs = []
        self.job.channel.put(ChoiceFinished(self.index, finish_reason, self.count))
        self.job.completion_tokens += self.count
        self.close()

    def close(self) -> None:
        self.sampler.close()
        self.slot.choice = None
        self.slot.last_used = time.monotonic()


def common_prefix(a: list[int], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
