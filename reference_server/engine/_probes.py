"""Probes run once at load: does this model, on this build of llama.cpp, give a token other
logits depending on how a step is shaped? The engine shapes its steps by the answers, so that
a request gives the same text alone or in a batch, from a cold or a cached prompt.

Measured on this project's machines: the tiny F32 model rounds differently in a one-row step
than in any larger one (another matrix kernel); Gemma 3 Q4_K does not, but gives the last token
of a prompt other logits (up to ~1.0) when it is decoded inside the prompt's chunk than when it
is decoded alone, which is what a prompt found in the cache does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .backend import StepBatch

Decode = Callable[[StepBatch], None]
Row = Callable[[int], np.ndarray]
Forget = Callable[[int], None]

PROMPT_SIZES = (8, 33, 100)  # chunk sizes tried for the prompt-end probe


def single_rows_differ(decode: Decode, row: Row, forget: Forget, token: int, pad_seq: int) -> bool:
    """Whether a one-token step gives other logits than the same step with a padding row."""
    batch = StepBatch(3)
    seen = []
    for padded in (False, True):
        forget(0)
        batch.clear()
        batch.add((token, token), 0, 0, output_last=False)
        decode(batch)
        batch.clear()
        batch.add((token,), 2, 0, output_last=True)
        if padded:
            batch.add((token,), 0, pad_seq, output_last=False)
        decode(batch)
        seen.append(row(0))
        forget(pad_seq)
    forget(0)
    return not np.array_equal(seen[0], seen[1])


def prompt_end_differs(
    decode: Decode, row: Row, forget: Forget, tokens: Sequence[int], n_batch: int
) -> bool:
    """Whether a prompt's last token gets other logits inside the prompt's chunk than alone
    after it (`decode` is expected to pad one-token steps as the engine does)."""
    for size in PROMPT_SIZES:
        if size > min(len(tokens), n_batch):
            break
        prompt = tokens[:size]
        batch = StepBatch(size + 1)
        forget(0)
        batch.clear()
        last = batch.add(prompt, 0, 0, output_last=True)
        decode(batch)
        together = row(last)
        forget(0)
        batch.clear()
        batch.add(prompt[:-1], 0, 0, output_last=False)
        decode(batch)
        batch.clear()
        batch.add(prompt[-1:], size - 1, 0, output_last=True)
        decode(batch)
        alone = row(0)
        forget(0)
        if not np.array_equal(together, alone):
            return True
    return False
