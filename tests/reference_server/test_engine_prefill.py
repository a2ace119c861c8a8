"""The prefill pacer: prompt tokens beside decoding sequences, from what steps cost."""

from __future__ import annotations

from reference_server.engine._prefill import (
    FIRST_BUDGET,
    MIN_BUDGET,
    MIN_SAMPLE_TOKENS,
    PrefillPacer,
)


def test_a_fixed_chunk_is_the_budget_whatever_the_steps_cost() -> None:
    pacer = PrefillPacer(fixed=48)
    pacer.stepped(0.010, decoding=7, prompt=0)
    pacer.stepped(1.000, decoding=0, prompt=500)
    assert pacer.budget() == 48


def test_the_budget_costs_about_one_decode_step() -> None:
    pacer = PrefillPacer()
    assert pacer.budget() == FIRST_BUDGET  # nothing measured yet
    pacer.stepped(0.070, decoding=7, prompt=0)  # decoding alone: 70 ms a step
    assert pacer.budget() == FIRST_BUDGET  # a prompt token's cost is still unknown
    pacer.stepped(1.150, decoding=0, prompt=500)  # 2.3 ms a prompt token
    assert pacer.budget() == 24  # 24 tokens add four fifths of a decode step
    for _ in range(20):  # beside decoding: what the step took beyond decoding alone
        pacer.stepped(0.070 + 24 * 0.0023, decoding=7, prompt=24)
    assert pacer.budget() == 24


def test_short_prompts_and_noise_do_not_move_the_estimate() -> None:
    pacer = PrefillPacer()
    pacer.stepped(0.050, decoding=4, prompt=0)
    pacer.stepped(0.500, decoding=0, prompt=250)  # 2 ms a token: 20 tokens a step
    pacer.stepped(0.200, decoding=4, prompt=MIN_SAMPLE_TOKENS - 1)  # a short prompt: ignored
    pacer.stepped(0.040, decoding=4, prompt=MIN_SAMPLE_TOKENS)  # faster than decoding alone
    assert pacer.budget() == 20


def test_a_slow_prompt_token_still_lets_short_prompts_start_in_one_step() -> None:
    pacer = PrefillPacer()
    pacer.stepped(0.001, decoding=8, prompt=0)
    pacer.stepped(1.0, decoding=0, prompt=100)  # a token costs 10 decode steps
    assert pacer.budget() == MIN_BUDGET
