"""A probe run once at load: does this model, on this build of llama.cpp, give a token other
logits in a one-row step than beside other rows? Measured on this project's machines: the tiny
F32 model does (another matrix kernel), Gemma 3 Q4_K does not. `--batch-invariant` pads
one-row steps where it does.

(A prompt's last token may also get other logits inside its prompt's chunk than decoded alone
after it: up to ~1.0 on Gemma 3. No probe is needed for that: each sequence keeps the logits of
its prompt's last token, and an exact repeat starts from them; see Scheduler._place.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .backend import StepBatch

Decode = Callable[[StepBatch], None]
Row = Callable[[int], np.ndarray]
Forget = Callable[[int], None]


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
