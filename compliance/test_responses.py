"""The Responses API, non-streamed: the response object, usage, max_output_tokens, function calls,
the function_call_output round trip and text.format. Model-agnostic: expectations come from the
server's own answers."""

from __future__ import annotations

import json

import pytest

from compliance import _responses as r
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._options import Settings


@pytest.fixture(autouse=True)
def _needs_responses(caps: Capabilities) -> None:
    caps.need("responses")


def test_responses_shape_and_usage(client: ApiClient, settings: Settings, model: str) -> None:
    body, ex = r.create(client, settings.profile, r.body(model, max_output_tokens=32))
    ensure(body["object"] == "response", f"{r.OBJECT}.object", "object must be 'response'", ex)
    ensure(
        body.get("status") in ("completed", "incomplete"),
        f"{r.OBJECT}.status",
        f"a finished response is 'completed' or 'incomplete', got {body.get('status')!r}",
        ex,
    )
    messages = r.items_of(body, "message")
    ensure(messages, r.OUTPUT, "without tools the output must hold an assistant message", ex)
    ensure(
        all(m.get("role") == "assistant" for m in messages),
        f"{r.OUTPUT}.role",
        "output messages must have role 'assistant'",
        ex,
    )
    if body.get("usage") is not None or settings.strict:
        r.check_usage(body.get("usage"), 32, ex)


def test_responses_echo_request_fields(client: ApiClient, settings: Settings, model: str) -> None:
    metadata = {"suite": "inferno"}
    request = r.body(model, instructions="Answer briefly.", metadata=metadata)
    body, ex = r.create(client, settings.profile, request)
    for field, expected in (
        ("instructions", "Answer briefly."),
        ("metadata", metadata),
        ("max_output_tokens", 16),
        ("previous_response_id", None),
    ):
        ensure(
            body.get(field) == expected,
            f"{r.ECHO}.{field}",
            f"the response must repeat {field}={expected!r}, got {body.get(field)!r}",
            ex,
        )


def test_responses_max_output_tokens_gives_incomplete(
    client: ApiClient, settings: Settings, model: str
) -> None:
    prompt = r.long_prompt(client, settings.profile, model)
    if prompt is None:
        pytest.skip("the model answers every probe prompt within 16 tokens")
    body, ex = r.create(client, settings.profile, r.body(model, prompt, max_output_tokens=16))
    ensure(
        body.get("status") == "incomplete",
        f"{r.INCOMPLETE}.status",
        f"max_output_tokens=16 cut a longer answer: status must be 'incomplete', "
        f"got {body.get('status')!r}",
        ex,
    )
    reason = (body.get("incomplete_details") or {}).get("reason")
    ensure(
        reason == "max_output_tokens",
        f"{r.INCOMPLETE}.reason",
        f"incomplete_details.reason must be 'max_output_tokens', got {reason!r}",
        ex,
    )
    for item in body["output"]:
        ensure(
            item.get("status") == "incomplete",
            f"{r.INCOMPLETE}.item-status",
            f"the {item.get('type')} item cut by the limit must have status 'incomplete', "
            f"got {item.get('status')!r}",
            ex,
        )


def _forced_call(client: ApiClient, settings: Settings, model: str) -> tuple[dict, dict, object]:
    request = r.body(
        model,
        r.WEATHER_QUESTION,
        tools=[r.FUNCTION_TOOL],
        tool_choice=r.FORCE_TOOL,
        max_output_tokens=64,
    )
    body, ex = r.create(client, settings.profile, request, r.TOOLS)
    calls = r.items_of(body, "function_call")
    ensure(calls, f"{r.TOOLS}.call", "tool_choice forced get_weather but no function_call item", ex)
    return body, calls[0], ex


def test_responses_forced_function_call(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("responses_tools")
    _, call, ex = _forced_call(client, settings, model)
    ensure(call.get("name") == "get_weather", f"{r.TOOLS}.name", f"wrong name {call!r}", ex)
    ensure(
        isinstance(call.get("call_id"), str) and call["call_id"],
        f"{r.TOOLS}.call-id",
        "a function_call needs a non-empty call_id to answer it with",
        ex,
    )
    arguments = r.parsed_arguments(call, ex, r.TOOLS)
    ensure(
        isinstance(arguments, dict) and arguments.get("city") in ("Paris", "Tokyo"),
        f"{r.TOOLS}.arguments-schema",
        f"arguments {arguments!r} do not match the tool's parameters",
        ex,
    )


def test_responses_function_call_output_round_trip(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("responses_tools")
    _, call, _ = _forced_call(client, settings, model)
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"c": 21}'}
    question = {"role": "user", "content": r.WEATHER_QUESTION}
    request = r.body(model, [question, call, result], tools=[r.FUNCTION_TOOL], tool_choice="none")
    body, ex = r.create(client, settings.profile, request, r.TOOL_OUTPUT)
    ensure(
        not r.items_of(body, "function_call"),
        f"{r.TOOL_OUTPUT}.no-call",
        "tool_choice 'none' after a function_call_output, but the model called again",
        ex,
    )
    ensure(r.items_of(body, "message"), f"{r.TOOL_OUTPUT}.message", "no answer message", ex)


def test_responses_text_format_json_schema(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("response_format")
    request = r.body(
        model,
        "Answer in JSON: is water wet?",
        text={"format": r.TEXT_JSON_SCHEMA},
        max_output_tokens=64,
    )
    body, ex = r.create(client, settings.profile, request, r.TEXT_FORMAT)
    if body.get("status") == "incomplete":
        pytest.skip("the JSON answer was cut by max_output_tokens; cannot judge it")
    text = r.output_text(body)
    try:
        parsed = json.loads(text)
    except ValueError:
        fail(f"{r.TEXT_FORMAT}.json", f"json_schema output does not parse: {text!r}", ex)
    ensure(
        isinstance(parsed, dict) and isinstance(parsed.get("ok"), bool) and set(parsed) == {"ok"},
        f"{r.TEXT_FORMAT}.schema",
        f"output {parsed!r} does not match the requested schema",
        ex,
    )
