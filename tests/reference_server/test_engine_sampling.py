"""Samplers on the real tiny model: the greedy fast path picks what llama.cpp's greedy chain
picks, and only plain greedy requests take it; every sampler picks from kept logits what it
picks from the step's row they were copied from."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from reference_server.engine import LlamaBackend, LlamaOptions, SamplingParams
from reference_server.engine._sampling import GreedySampler, SamplerChain, is_plain_greedy
from reference_server.engine.backend import StepBatch
from reference_server.tiny_model import ensure_tiny_model

GREEDY = SamplingParams(max_tokens=64, temperature=0.0)


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaBackend]:
    options = LlamaOptions(model_path=str(ensure_tiny_model()), n_ctx=256, parallel=2, n_threads=1)
    loaded = LlamaBackend(options)
    yield loaded
    loaded.close()


def _walk(backend: LlamaBackend, steps: int, pick: Callable[[int], int]) -> list[int]:
    """Decodes a prompt, then `steps` tokens, each the one `pick` chooses from the last step's
    logits row; returns them."""
    batch = StepBatch(64)
    tokens = backend.tokenize("Once upon a time", add_bos=True, special=False)
    backend.forget(0)
    row = batch.add(tokens, 0, 0, output_last=True)
    backend.decode(batch)
    picked: list[int] = []
    try:
        for position in range(len(tokens), len(tokens) + steps):
            picked.append(pick(row))
            batch.clear()
            row = batch.add((picked[-1],), position, 0, output_last=True)
            backend.decode(batch)
    finally:
        backend.forget(0)
    assert len(set(picked)) > 3, picked  # a real walk through the vocabulary, not one token
    return picked


def test_argmax_picks_the_tokens_the_greedy_chain_picks(backend: LlamaBackend) -> None:
    chain = SamplerChain(backend._ctx, backend.vocab.handle, backend.vocab.n_vocab, GREEDY, 0)
    fast = backend.open_sampler(0, (), GREEDY, 0, lambda: False)
    assert isinstance(fast, GreedySampler)

    def pick(row: int) -> int:
        token = fast.sample(row)
        assert token == chain.sample(row)
        return token

    try:
        _walk(backend, 48, pick)
    finally:
        chain.close()


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(max_tokens=8, temperature=0.7),
        SamplingParams(max_tokens=8, temperature=0.0, logit_bias=((5, 2.0),)),
        SamplingParams(max_tokens=8, temperature=0.0, presence_penalty=0.5),
        SamplingParams(max_tokens=8, temperature=0.0, repeat_penalty=1.1),
        SamplingParams(max_tokens=8, temperature=0.0, grammar='root ::= "a"'),
    ],
)
def test_anything_beyond_plain_greedy_runs_the_chain(
    backend: LlamaBackend, params: SamplingParams
) -> None:
    assert not is_plain_greedy(params)
    sampler = backend.open_sampler(0, (), params, 1, lambda: False)
    try:
        assert isinstance(sampler, SamplerChain)
    finally:
        sampler.close()


@pytest.mark.parametrize(
    "params",
    [
        GREEDY,
        SamplingParams(max_tokens=8, temperature=0.9, top_k=0, top_p=1.0, min_p=0.0),
        SamplingParams(max_tokens=8, temperature=0.7, logit_bias=((5, 2.0), (7, -100.0))),
        SamplingParams(max_tokens=8, temperature=0.0, repeat_penalty=1.3),
        SamplingParams(max_tokens=8, temperature=0.0, grammar="root ::= [a-z ]+"),
    ],
)
def test_kept_logits_sample_as_the_row_they_were_copied_from(
    backend: LlamaBackend, params: SamplingParams
) -> None:
    """Two samplers with one seed walk the same text: one samples each step's row, the other a
    copy of it (what a cached prompt's first token is sampled from)."""
    from_row = backend.open_sampler(0, (), params, 11, lambda: False)
    from_copy = backend.open_sampler(0, (), params, 11, lambda: False)

    def pick(row: int) -> int:
        kept = backend.keep_logits(row)
        token = from_row.sample(row)
        assert from_copy.sample(kept) == token
        assert backend.logprob(kept, token, 3) == backend.logprob(row, token, 3)
        return token

    try:
        _walk(backend, 24, pick)
    finally:
        from_row.close()
        from_copy.close()


def test_the_padding_row_is_paid_only_when_asked_for(backend: LlamaBackend) -> None:
    # The tiny model's one-row steps round differently (the load probe finds it)...
    assert backend.single_rows_differ
    assert not backend.pad_single_rows  # ...but padding is the --batch-invariant choice
    options = LlamaOptions(
        model_path=backend.options.model_path, n_ctx=64, parallel=1, batch_invariant=True
    )
    padded = LlamaBackend(options)
    try:
        assert padded.pad_single_rows
    finally:
        padded.close()
