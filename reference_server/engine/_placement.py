"""Which idle sequence a request starts in, and which cells of the KV cache its prompt reuses.

Like llama-server's slot choice, a request's leader goes to the idle sequence whose cache holds
the longest prefix of its prompt, if that covers at least half of it; else to the least
recently used one, so that a short shared prefix (BOS, a chat header) does not evict a useful
cache. Siblings of an `n > 1` request take the next least recently used ones.

A prompt that another sequence holds whole, with the logits kept for its last token (the same
request from another client, still running or not), shares that sequence's cells and starts
from those logits, as siblings of one request do: its prompt is bit for bit the one decoded
there, and it needs no step before its first token. A part of a prompt is reused only in
place, never copied from another sequence: the rest would be decoded after cells placed
elsewhere in the cache, and llama.cpp's kernels round differently by cell order, so the same
request would no longer give the same text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ._sequence import Slot, common_prefix


def by_preference(free: Sequence[Slot], prompt: tuple[int, ...]) -> list[Slot]:
    """The free sequences, the one the leader should take first."""
    ordered = sorted(free, key=lambda s: s.last_used)
    best = max(ordered, key=lambda s: common_prefix(s.cached, prompt))
    if common_prefix(best.cached, prompt) * 2 >= len(prompt):
        ordered.remove(best)
        ordered.insert(0, best)
    return ordered


def kept_logits(slot: Slot, prompt: tuple[int, ...]) -> np.ndarray | None:
    """The logits kept for `prompt`'s last token when `slot` holds that whole prompt, else None."""
    if slot.prompt_len != len(prompt) or common_prefix(slot.cached, prompt) < len(prompt):
        return None
    return slot.prompt_logits


def holders(slots: Sequence[Slot], prompt: tuple[int, ...], besides: Slot) -> Iterator[Slot]:
    """The sequences other than `besides` that hold `prompt` whole with its kept logits."""
    return (s for s in slots if s is not besides and kept_logits(s, prompt) is not None)
