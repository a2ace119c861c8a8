"""Which idle sequence a request's leader takes, and which sequences hold a prompt whole."""

from __future__ import annotations

import numpy as np

from reference_server.engine._placement import by_preference, holders, kept_logits
from reference_server.engine._sequence import Slot

PROMPT = (1, 10, 11, 12, 13)


def _slot(seq_id: int, cached: list[int], last_used: float, prompt_len: int = 0) -> Slot:
    slot = Slot(seq_id, cached=cached, last_used=last_used, prompt_len=prompt_len)
    if prompt_len:
        slot.prompt_logits = np.zeros(4, dtype=np.float32)
    return slot


def test_the_leader_takes_the_longest_prefix_when_it_covers_half_the_prompt() -> None:
    old, holding = _slot(0, [], 1.0), _slot(1, [1, 10, 11, 99], 5.0)
    assert by_preference([holding, old], PROMPT) == [holding, old]


def test_a_short_shared_prefix_leaves_the_least_recently_used_first() -> None:
    old, header = _slot(0, [7], 1.0), _slot(1, [1, 10, 99], 5.0)
    assert by_preference([header, old], PROMPT) == [old, header]


def test_only_a_whole_prompt_with_kept_logits_is_held() -> None:
    whole = _slot(0, [*PROMPT, 40, 41], 1.0, prompt_len=len(PROMPT))
    other_prompt = _slot(1, [*PROMPT, 40], 1.0, prompt_len=len(PROMPT) + 1)
    unkept = _slot(2, list(PROMPT), 1.0)
    target = _slot(3, [], 1.0)
    slots = [whole, other_prompt, unkept, target]
    assert kept_logits(whole, PROMPT) is whole.prompt_logits
    assert list(holders(slots, PROMPT, besides=target)) == [whole]
    assert list(holders(slots, PROMPT, besides=whole)) == []
