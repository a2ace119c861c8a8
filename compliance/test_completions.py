"""Legacy completions, non-streaming: shape, usage, max_tokens, stop, echo and legacy logprobs."""

from __future__ import annotations

import pytest

from compliance._capabilities import Capabilities
from compliance._checks import COMPLETION_PROMPTS, check_usage, completion_body, expect_ok
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings
from compliance._stop import pick_stop

OP = "createCompletion"


@pytest.fixture(autouse=True)
def _completions(caps: Capabilities) -> None:
    caps.need("completions")


def _complete(client: ApiClient, profile: str, body: dict, rule: str) -> tuple[dict, object]:
    exchange = client.post("/completions", body)
    return expect_ok(exchange, OP, profile, rule), exchange


def _long_answer(client: ApiClient, profile: str, model: str, rule: str) -> tuple[dict, str]:
    for prompt in COMPLETION_PROMPTS:
        body, _ = _complete(client, profile, completion_body(model, prompt, max_tokens=24), rule)
        if body["choices"][0]["finish_reason"] == "length":
            return body, prompt
    pytest.skip("the model stops on its own within 24 tokens for every probe prompt")


def test_completion_shape_and_usage(client: ApiClient, settings: Settings, model: str) -> None:
    body, ex = _complete(client, settings.profile, completion_body(model), "completions.basic")
    ensure(body["object"] == "text_completion", "completions.object", "object", ex)
    ensure([c["index"] for c in body["choices"]] == [0], "completions.choices", "one choice", ex)
    if "usage" in body or settings.strict:
        check_usage(body.get("usage"), ex, "completions.usage")


def test_completion_max_tokens_gives_length(
    client: ApiClient, settings: Settings, model: str
) -> None:
    _, prompt = _long_answer(client, settings.profile, model, "completions.limit")
    body, ex = _complete(
        client, settings.profile, completion_body(model, prompt, max_tokens=3), "completions.limit"
    )
    choice = body["choices"][0]
    ensure(
        choice["finish_reason"] == "length",
        "completions.max_tokens.finish-reason",
        f"max_tokens=3 must end with 'length', got {choice['finish_reason']!r}",
        ex,
    )
    usage = body.get("usage") or {}
    if isinstance(usage.get("completion_tokens"), int):
        ensure(
            usage["completion_tokens"] <= 3,
            "completions.max_tokens.honoured",
            f"max_tokens=3 but completion_tokens={usage['completion_tokens']}",
            ex,
        )


@pytest.mark.preset("extended")
def test_completion_stop(client: ApiClient, settings: Settings, model: str) -> None:
    free, prompt = _long_answer(client, settings.profile, model, "completions.stop")
    text = free["choices"][0]["text"]
    stop = pick_stop(text)
    if stop is None:
        pytest.skip(f"temperature-0 output too short or repetitive to derive a stop: {text!r}")
    body, ex = _complete(
        client, settings.profile, completion_body(model, prompt, max_tokens=24, stop=stop), "c.stop"
    )
    choice = body["choices"][0]
    ensure(stop not in choice["text"], "completions.stop.honoured", f"stop {stop!r} in text", ex)
    ensure(
        choice["finish_reason"] == "stop",
        "completions.stop.finish-reason",
        f"expected finish_reason 'stop', got {choice['finish_reason']!r}",
        ex,
    )


@pytest.mark.preset("extended")
def test_echo_prepends_prompt(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("echo")
    prompt = "The capital of France is"
    body, ex = _complete(
        client,
        settings.profile,
        completion_body(model, prompt=prompt, max_tokens=4, echo=True),
        "completions.echo",
    )
    text = body["choices"][0]["text"]
    ensure(
        text.startswith(prompt),
        "completions.echo.prefix",
        f"echo=true: text must start with the prompt {prompt!r}, got {text[:80]!r}",
        ex,
    )


@pytest.mark.preset("extended")
def test_legacy_logprobs_shape(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("logprobs")
    body, ex = _complete(
        client, settings.profile, completion_body(model, max_tokens=4, logprobs=2), "c.logprobs"
    )
    lp = body["choices"][0].get("logprobs")
    ensure(isinstance(lp, dict), "completions.logprobs.present", "logprobs=2 but absent", ex)
    tokens, values, tops = lp.get("tokens"), lp.get("token_logprobs"), lp.get("top_logprobs")
    ensure(
        isinstance(tokens, list) and tokens and isinstance(values, list),
        "completions.logprobs.shape",
        "legacy logprobs need tokens[] and token_logprobs[] (not the chat shape)",
        ex,
    )
    ensure(
        len(tokens) == len(values),
        "completions.logprobs.lengths",
        f"{len(tokens)} tokens but {len(values)} token_logprobs",
        ex,
    )
    for value in values:
        ensure(
            value is None or value <= 0, "completions.logprobs.range", f"logprob {value} > 0", ex
        )
    ensure(isinstance(tops, list), "completions.logprobs.top", "top_logprobs must be a list", ex)
    for i, top in enumerate(tops):
        ensure(
            # OpenAI: the sampled token is always included, so up to logprobs + 1 entries.
            isinstance(top, dict) and 1 <= len(top) <= 3,
            "completions.logprobs.top-count",
            f"logprobs=2: top_logprobs[{i}] must map 1 to 3 tokens, got {top!r}",
            ex,
        )
