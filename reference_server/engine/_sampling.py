"""Per-sequence llama.cpp sampler chains, and logprobs read from one logits row.

A row is either one of the last step's (an index into the context's logits) or a copy kept
from an earlier step (an array: the logits of a cached prompt's last token).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import Logits
from .types import SamplingParams, TokenLogprob, TopLogprob

# How far back repeat/frequency/presence penalties look (llama-cpp-python's default).
PENALTY_LAST_N = 64
# llama_token_data as numpy lays it out: a candidate array filled without a Python loop.
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class SamplerChain:
    """One sequence's chain, in the order llama-cpp-python's `Llama` builds it so that a seed
    gives the same text as before: logit bias, penalties, grammar, then greedy for temperature
    0, else top-k, top-p, min-p, temperature and a seeded draw."""

    def __init__(
        self, ctx: Any, vocab: Any, n_vocab: int, params: SamplingParams, seed: int
    ) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._ctx = ctx
        self._chain = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        try:
            for stage in _stages(llama_cpp, vocab, n_vocab, params, seed):
                self._add(stage)
        except BaseException:
            self.close()
            raise

    def _add(self, stage: Any) -> None:
        if not stage:
            raise ValueError("llama.cpp refused a sampler (an invalid grammar?)")
        self._llama_cpp.llama_sampler_chain_add(self._chain, stage)

    def sample(self, row: Logits) -> int:
        llama_cpp = self._llama_cpp
        if isinstance(row, int):
            return int(llama_cpp.llama_sampler_sample(self._chain, self._ctx, row))
        # What llama_sampler_sample does with a context's row: every token as a candidate,
        # the chain applied, the choice accepted (so penalties and grammar see it).
        candidates = np.zeros(len(row), dtype=_TOKEN_DATA)
        candidates["id"] = np.arange(len(row), dtype=np.int32)
        candidates["logit"] = row
        array = llama_cpp.llama_token_data_array(
            data=candidates.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)),
            size=len(row),
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self._chain, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise RuntimeError("llama.cpp's sampler chain selected no token")
        token = int(array.data[array.selected].id)  # the chain may reorder the candidates
        llama_cpp.llama_sampler_accept(self._chain, token)
        return token

    def close(self) -> None:
        if self._chain is not None:
            self._llama_cpp.llama_sampler_free(self._chain)
            self._chain = None


class GreedySampler:
    """Temperature 0 with nothing else in the chain: the first token of highest logit, as
    llama.cpp's greedy sampler picks it, read straight from the logits row. The chain would
    first copy the whole vocabulary into a candidate array (262,144 entries for Gemma 3)."""

    def __init__(self, ctx: Any, n_vocab: int) -> None:
        import llama_cpp

        self._logits_ith = llama_cpp.llama_get_logits_ith
        self._ctx = ctx
        self._n_vocab = n_vocab

    def sample(self, row: Logits) -> int:
        if isinstance(row, int):
            row = np.ctypeslib.as_array(self._logits_ith(self._ctx, row), shape=(self._n_vocab,))
        return int(row.argmax())

    def close(self) -> None:
        pass


def is_plain_greedy(params: SamplingParams) -> bool:
    """Whether the chain would be greedy alone (no bias, penalties or grammar before it)."""
    return (
        params.temperature <= 0
        and not params.logit_bias
        and not params.grammar
        and _neutral_penalties(params)
    )


def _neutral_penalties(params: SamplingParams) -> bool:
    return (
        params.repeat_penalty == 1.0
        and params.frequency_penalty == 0.0
        and params.presence_penalty == 0.0
    )


def _stages(
    llama_cpp: Any, vocab: Any, n_vocab: int, params: SamplingParams, seed: int
) -> list[Any]:
    stages = []
    if params.logit_bias:
        entries = (llama_cpp.llama_logit_bias * len(params.logit_bias))()
        for entry, (token, bias) in zip(entries, params.logit_bias, strict=True):
            entry.token = token
            # OpenAI documents -100 as a ban.
            entry.bias = float("-inf") if bias <= -100 else bias
        stages.append(
            llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(params.logit_bias), entries)
        )
    if not _neutral_penalties(params):
        stages.append(
            llama_cpp.llama_sampler_init_penalties(
                n_vocab,
                PENALTY_LAST_N,
                params.repeat_penalty,
                params.frequency_penalty,
                params.presence_penalty,
            )
        )
    if params.grammar:
        stages.append(
            llama_cpp.llama_sampler_init_grammar(vocab, params.grammar.encode("utf-8"), b"root")
        )
    if params.temperature <= 0:
        stages.append(llama_cpp.llama_sampler_init_greedy())
        return stages
    stages += [
        llama_cpp.llama_sampler_init_top_k(params.top_k),
        llama_cpp.llama_sampler_init_top_p(params.top_p, 1),
        llama_cpp.llama_sampler_init_min_p(params.min_p, 1),
        llama_cpp.llama_sampler_init_temp(params.temperature),
        llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF),
    ]
    return stages


def token_logprob(
    logits: np.ndarray, token: int, top_n: int, piece: Callable[[int], bytes]
) -> TokenLogprob:
    """The chosen token's logprob from the model's raw logits (before bias, penalties or
    grammar, as OpenAI reports them), with the `top_n` most likely alternatives."""
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak, dtype=np.float64).sum()))
    top: tuple[TopLogprob, ...] = ()
    if top_n > 0:
        best = np.argpartition(-logits, top_n - 1)[:top_n]
        best = best[np.argsort(-logits[best], kind="stable")]
        top = tuple(_alternative(piece(int(t)), float(logits[t]) - log_total) for t in best)
    chosen = piece(token)
    return TokenLogprob(
        token=chosen.decode("utf-8", errors="replace"),
        token_bytes=tuple(chosen),
        logprob=min(0.0, float(logits[token]) - log_total),
        top=top,
    )


def _alternative(piece: bytes, logprob: float) -> TopLogprob:
    return TopLogprob(
        token=piece.decode("utf-8", errors="replace"),
        token_bytes=tuple(piece),
        logprob=min(0.0, logprob),
    )
