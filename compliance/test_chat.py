"""Chat completions, non-streaming: shapes, usage, length limits, n, stop, determinism, logprobs,
response_format and tools. Model-agnostic: expectations come from the server's own answers."""

from __future__ import annotations

import json

import pytest

from compliance._capabilities import JSON_SCHEMA_FORMAT, TOOL, TOOL_CHOICE, Capabilities
from compliance._checks import CHAT_PROMPTS, chat_body, check_usage, expect_ok
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._stop import pick_stop

OP = "createChatCompletion"


def _chat(client: ApiClient, profile: str, body: dict, rule: str) -> tuple[dict, object]:
    exchange = client.post("/chat/completions", body)
    return expect_ok(exchange, OP, profile, rule), exchange


def _long_answer(client: ApiClient, profile: str, model: str, rule: str) -> tuple[dict, str]:
    """A temperature-0 answer cut by max_tokens=24 (so the model talks longer), and its prompt."""
    for prompt in CHAT_PROMPTS:
        body, _ = _chat(client, profile, chat_body(model, prompt, max_tokens=24), rule)
        if body["choices"][0]["finish_reason"] == "length":
            return body, prompt
    pytest.skip("the model stops on its own within 24 tokens for every probe prompt")


def test_chat_shape_and_usage(client: ApiClient, settings: Settings, model: str) -> None:
    body, ex = _chat(client, settings.profile, chat_body(model), "chat.basic")
    ensure(body["object"] == "chat.completion", "chat.object", "object must be chat.completion", ex)
    ensure(len(body["choices"]) == 1, "chat.choices", "expected exactly one choice", ex)
    choice = body["choices"][0]
    ensure(choice["index"] == 0, "chat.choices.index", "the only choice must have index 0", ex)
    ensure(choice["message"]["role"] == "assistant", "chat.role", "role must be assistant", ex)
    ensure(
        isinstance(choice["message"].get("content"), str),
        "chat.content",
        "message.content must be a string for a plain text answer",
        ex,
    )
    if "usage" in body or settings.strict:
        check_usage(body.get("usage"), ex, "chat.usage")
        ensure(
            body["usage"]["completion_tokens"] <= 16,
            "chat.usage.max-tokens",
            f"completion_tokens {body['usage']['completion_tokens']} > max_tokens 16",
            ex,
        )


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_gives_length(
    client: ApiClient, settings: Settings, model: str, limit_field: str
) -> None:
    _, prompt = _long_answer(client, settings.profile, model, "chat.limit")
    body = chat_body(model, prompt)
    body.pop("max_tokens")
    body[limit_field] = 3
    limited, ex = _chat(client, settings.profile, body, "chat.limit")
    choice = limited["choices"][0]
    ensure(
        choice["finish_reason"] == "length",
        f"chat.{limit_field}.finish-reason",
        f"{limit_field}=3 cut a 24-token answer, finish_reason must be 'length', "
        f"got {choice['finish_reason']!r}",
        ex,
    )
    usage = limited.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        ensure(
            usage["completion_tokens"] <= 3,
            f"chat.{limit_field}.honoured",
            f"{limit_field}=3 but completion_tokens={usage['completion_tokens']}",
            ex,
        )


@pytest.mark.preset("extended")
def test_n_choices(client: ApiClient, settings: Settings, model: str, caps: Capabilities) -> None:
    caps.need("n")
    body, ex = _chat(
        client, settings.profile, chat_body(model, n=2, temperature=1, max_tokens=4), "chat.n"
    )
    indexes = sorted(c["index"] for c in body["choices"])
    ensure(indexes == [0, 1], "chat.n.choices", f"n=2 must give choices 0 and 1, got {indexes}", ex)


def test_stop_sequence_cuts_output(client: ApiClient, settings: Settings, model: str) -> None:
    free, prompt = _long_answer(client, settings.profile, model, "chat.stop")
    text = free["choices"][0]["message"].get("content") or ""
    stop = pick_stop(text)
    if stop is None:
        pytest.skip(f"temperature-0 output too short or repetitive to derive a stop: {text!r}")
    body, ex = _chat(
        client, settings.profile, chat_body(model, prompt, max_tokens=24, stop=[stop]), "chat.stop"
    )
    choice = body["choices"][0]
    content = choice["message"].get("content") or ""
    ensure(
        stop not in content,
        "chat.stop.honoured",
        f"stop {stop!r} (taken from the server's own output {text!r}) appears in the answer",
        ex,
    )
    ensure(
        choice["finish_reason"] == "stop",
        "chat.stop.finish-reason",
        f"output cut by a stop sequence must end with finish_reason 'stop', "
        f"got {choice['finish_reason']!r}",
        ex,
    )


@pytest.mark.preset("extended")
def test_temperature_zero_is_deterministic(
    client: ApiClient, settings: Settings, model: str
) -> None:
    first, _ = _chat(client, settings.profile, chat_body(model), "chat.determinism")
    second, ex = _chat(client, settings.profile, chat_body(model), "chat.determinism")
    a = first["choices"][0]["message"].get("content")
    b = second["choices"][0]["message"].get("content")
    ensure(
        a == b,
        "chat.determinism.temperature0",
        f"two temperature-0 answers differ: {a!r} / {b!r}",
        ex,
    )


@pytest.mark.preset("extended")
def test_same_seed_is_deterministic(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("seed")
    body = chat_body(model, temperature=1.0, seed=4242)
    first, _ = _chat(client, settings.profile, body, "chat.seed")
    second, ex = _chat(client, settings.profile, body, "chat.seed")
    a = first["choices"][0]["message"].get("content")
    b = second["choices"][0]["message"].get("content")
    ensure(a == b, "chat.seed.determinism", f"same seed gave different answers: {a!r} / {b!r}", ex)


@pytest.mark.preset("extended")
def test_logprobs_shape(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("logprobs")
    body, ex = _chat(
        client,
        settings.profile,
        chat_body(model, max_tokens=4, logprobs=True, top_logprobs=2),
        "chat.logprobs",
    )
    logprobs = body["choices"][0].get("logprobs")
    ensure(isinstance(logprobs, dict), "chat.logprobs.present", "logprobs requested but absent", ex)
    content = logprobs.get("content")
    ensure(
        isinstance(content, list) and content,
        "chat.logprobs.content",
        "logprobs.content must be a non-empty list",
        ex,
    )
    for i, item in enumerate(content):
        ensure(
            isinstance(item.get("token"), str),
            "chat.logprobs.token",
            f"content[{i}].token must be a string",
            ex,
        )
        ensure(item["logprob"] <= 0, "chat.logprobs.range", f"content[{i}].logprob > 0", ex)
        tops = item.get("top_logprobs")
        ensure(
            isinstance(tops, list) and len(tops) == 2,
            "chat.logprobs.top-count",
            f"top_logprobs=2 but content[{i}] has {len(tops) if isinstance(tops, list) else tops}",
            ex,
        )
        for top in tops:
            ensure(top["logprob"] <= 0, "chat.logprobs.range", "a top logprob is > 0", ex)


@pytest.mark.preset("extended")
def test_response_format_json_schema(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("response_format")
    parsed, ex = _json_reply(
        client, settings, model, "Answer in JSON: is water wet?", JSON_SCHEMA_FORMAT, "json"
    )
    ensure(
        isinstance(parsed, dict) and isinstance(parsed.get("ok"), bool) and set(parsed) == {"ok"},
        "chat.response-format.schema",
        f"output {parsed!r} does not match the requested schema",
        ex,
    )


@pytest.mark.preset("extended")
def test_response_format_json_object(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("response_format")
    parsed, ex = _json_reply(
        client,
        settings,
        model,
        "Reply with a JSON object describing a cat.",
        {"type": "json_object"},
        "json-object",
    )
    ensure(
        isinstance(parsed, dict),
        "chat.response-format.json-object",
        f"json_object output must be an object, got {type(parsed).__name__}",
        ex,
    )


def _json_reply(
    client: ApiClient,
    settings: Settings,
    model: str,
    content: str,
    response_format: dict,
    rule: str,
) -> tuple[object, object]:
    """The parsed JSON answer to a response_format request (skips when max_tokens cut it)."""
    body, ex = _chat(
        client,
        settings.profile,
        chat_body(model, content=content, response_format=response_format, max_tokens=64),
        "chat.response-format",
    )
    choice = body["choices"][0]
    if choice["finish_reason"] == "length":
        pytest.skip("the JSON answer was cut by max_tokens; cannot judge it")
    text = choice["message"].get("content") or ""
    try:
        return json.loads(text), ex
    except ValueError:
        kind = response_format.get("type")
        fail(f"chat.response-format.{rule}", f"{kind} output does not parse: {text!r}", ex)


def test_tool_call(client: ApiClient, settings: Settings, model: str, caps: Capabilities) -> None:
    caps.need("tools")
    body, ex = _chat(
        client,
        settings.profile,
        chat_body(
            model,
            content="What is the weather in Paris?",
            tools=[TOOL],
            tool_choice=TOOL_CHOICE,
            max_tokens=64,
        ),
        "chat.tools",
    )
    choice = body["choices"][0]
    calls = choice["message"].get("tool_calls")
    ensure(
        isinstance(calls, list) and calls,
        "chat.tools.calls",
        "tool_choice forced get_weather but message.tool_calls is empty",
        ex,
    )
    # OpenAI answers a forced function with finish_reason "stop", an auto choice with "tool_calls".
    ensure(
        choice["finish_reason"] in ("tool_calls", "stop"),
        "chat.tools.finish-reason",
        f"finish_reason must be 'tool_calls' (or 'stop' for a forced function), "
        f"got {choice['finish_reason']!r}",
        ex,
    )
    for call in calls:
        fn = call.get("function", {})
        ensure(fn.get("name") == "get_weather", "chat.tools.name", f"wrong name {fn!r}", ex)
        args = fn.get("arguments")
        ensure(
            isinstance(args, str),
            "chat.tools.arguments-string",
            f"function.arguments must be a JSON string, got {type(args).__name__}",
            ex,
        )
        try:
            parsed = json.loads(args)
        except ValueError:
            fail("chat.tools.arguments-json", f"arguments do not parse as JSON: {args!r}", ex)
        ensure(
            isinstance(parsed, dict) and parsed.get("city") in ("Paris", "Tokyo"),
            "chat.tools.arguments-schema",
            f"arguments {parsed!r} do not match the tool's parameters",
            ex,
        )
