"""The seam between the scheduler and llama.cpp: what one decode step needs from a model.

The scheduler (`_scheduler.py`) decides which tokens go into a step and what happens to the
results; a `Backend` only decodes, samples and answers token questions. `LlamaBackend`
(`_llama.py`) is the implementation on llama-cpp-python's low-level API. Tests wrap it to inject
delays and failures per sequence without touching the scheduler. Every method is called from
the engine's own thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .types import SamplingParams, TokenLogprob


def window_holds(pos_min: int, pos_max: int, length: int, window: int) -> bool:
    """Whether a sequence whose cells span positions pos_min..pos_max (-1, -1: none) still has
    what attention needs to go on at position `length`: with a sliding window of `window`
    positions, the cells of the last `window` positions before it. Asked before any cell is
    removed, as llama-server does: once cells past `length` are gone, an emptied window would
    read as pos_min = -1 and pass."""
    if window <= 0 or length <= 0:
        return True
    return 0 <= pos_min <= max(0, length - window) and pos_max >= length - 1


class KvCacheFull(Exception):
    """No room in the KV cache for this batch; a smaller one may fit."""


@dataclass(frozen=True, slots=True)
class ModelFacts:
    n_ctx: int  # tokens one sequence may hold
    n_vocab: int
    n_embd: int
    n_seq: int  # sequences decoded together (--parallel)
    n_batch: int  # tokens one decode step may carry (--n-batch)
    bos_text: str
    eos_text: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Each sequence keeps the logits of its prompt's last token (`Backend.keep_logits`), so
    # that an exact repeat of the prompt starts from them without a step and gives the same
    # text (Scheduler._place). False only to measure what that buys (benchmarks.costs).
    keeps_prompt_logits: bool = True
    # Prompt tokens a step may carry beside sequences that are decoding; 0: about one decode
    # step's worth, measured as it runs (engine/_prefill.py).
    prefill_chunk: int = 0


class StepBatch:
    """The tokens of one decode step, in flat arrays a backend can hand to llama.cpp as is.

    Row `i` is token `i` of the step; only rows marked as outputs get a logits row, which
    `SequenceSampler.sample(i)` and `Backend.logprob(i, ...)` then read.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.tokens = np.zeros(capacity, dtype=np.int32)
        self.positions = np.zeros(capacity, dtype=np.int32)
        self.seqs = np.zeros(capacity, dtype=np.int32)
        self.outputs = np.zeros(capacity, dtype=np.int8)
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def add(self, tokens: Sequence[int], start: int, seq: int, output_last: bool) -> int:
        """Appends consecutive tokens of one sequence; returns the row of the last one."""
        first, count = self.size, len(tokens)
        end = first + count
        if end > self.capacity:
            raise ValueError(f"batch of {self.capacity} tokens cannot take {count} more")
        if count == 1:
            self.tokens[first] = tokens[0]
            self.positions[first] = start
        else:
            self.tokens[first:end] = tokens
            self.positions[first:end] = np.arange(start, start + count, dtype=np.int32)
        self.seqs[first:end] = seq
        self.outputs[first:end] = 0
        if output_last:
            self.outputs[end - 1] = 1
        self.size = end
        return end - 1


# Where a token's logits are: a row of the last step, or a copy kept from an earlier one.
Logits = int | np.ndarray


class SequenceSampler(Protocol):
    """One sequence's sampler chain: its own seed, penalties, grammar state."""

    def sample(self, row: Logits) -> int:
        """Samples from the logits of `row` and accepts the token."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    facts: ModelFacts

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def token_piece(self, token: int) -> bytes:
        """The bytes a generated token adds to the text."""
        ...

    def is_end_of_generation(self, token: int) -> bool: ...

    def open_sampler(
        self,
        seq: int,
        prompt: Sequence[int],
        params: SamplingParams,
        seed: int,
        cancelled: Callable[[], bool],
    ) -> SequenceSampler:
        """A sampler chain for a sequence about to run in KV sequence `seq`. `cancelled` tells
        a backend that may block on behalf of this sequence when to stop waiting."""
        ...

    def decode(self, batch: StepBatch) -> None:
        """One llama_decode. Raises KvCacheFull, or any other error for a failed step."""
        ...

    def keep_logits(self, row: int) -> np.ndarray:
        """A copy of the logits of `row` of the last step, for a later `sample` or `logprob`."""
        ...

    def logprob(self, row: Logits, token: int, top_n: int) -> TokenLogprob:
        """The model's (unbiased) logprob of `token` at `row`, with the `top_n` likeliest."""
        ...

    def forget(self, seq: int, start: int = 0) -> bool:
        """Drops positions >= start of a sequence from the KV cache; False if it cannot."""
        ...

    def share(self, source: int, target: int, length: int) -> bool:
        """Lets `target` (emptied first) use the first `length` positions of `source`'s cells.
        False when those cells are no longer all there (a sliding-window cache)."""
        ...

    def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        """One normalised, pooled vector per token list."""
        ...

    def close(self) -> None: ...


BackendLoader = Callable[[], Backend]
