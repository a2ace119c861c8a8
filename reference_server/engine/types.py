"""Plain data crossing the engine boundary: what handlers submit and the events they receive."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 40
    min_p: float = 0.05
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # None: no logprobs; 0: the chosen token's logprob only; k: plus the k most likely alternatives.
    logprobs: int | None = None
    # GBNF text; the engine compiles it on the worker that owns the model.
    grammar: str | None = None
    # (token id, bias) pairs added to the logits before sampling; -100 bans a token.
    logit_bias: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    prompt_tokens: tuple[int, ...]
    params: SamplingParams
    n: int = 1


@dataclass(frozen=True, slots=True)
class TopLogprob:
    token: str
    token_bytes: tuple[int, ...]
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    token_bytes: tuple[int, ...]
    logprob: float
    top: tuple[TopLogprob, ...] = ()


@dataclass(slots=True)
class TextDelta:
    """Text of one choice that is safe to show: whole characters, never part of a stop string."""

    index: int
    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChoiceFinished:
    index: int
    finish_reason: str  # "stop" | "length"
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class GenerationDone:
    prompt_tokens: int
    completion_tokens: int
    # Prompt tokens whose KV cells were reused from an earlier request instead of evaluated.
    cached_tokens: int = 0


GenerationEvent = TextDelta | ChoiceFinished | GenerationDone
