"""The Responses API, non-streamed: the response object, usage, max_output_tokens, function calls,
the function_call_output round trip and text.format. Model-agnostic: expectations come from the
server's own answers."""

from __future__ import annotations

import json

import pytest

from compliance import _responses as r
from compliance import _responses_rules as rules
from compliance._answer import MODES
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._openresponses_rules import INPUT_PHASE
from compliance._options import Settings
from compliance.rules import Rule

JSON_LIMIT = 64
_CALL_ID = "call_inferno_form"
# Inputs every client sends; each its own rule (rules.INPUT_FORMS).
_FORM_INPUTS = {
    "content-parts": [{"role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}],
    "function-call-items": [
        {"role": "user", "content": r.WEATHER_QUESTION},
        {
            "type": "function_call",
            "call_id": _CALL_ID,
            "name": r.FUNCTION_TOOL["name"],
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": _CALL_ID, "output": '{"celsius": 21}'},
    ],
    "history": [
        {"type": "message", "role": "system", "content": "Answer briefly."},
        {"type": "message", "role": "user", "content": "My name is Alice."},
        {"type": "message", "role": "assistant", "content": "Hello Alice!"},
        {"type": "message", "role": "user", "content": "What is my name?"},
    ],
}
# Assistant turns labelled as Open Responses labels them (its profile only).
_PHASED_INPUT = [
    {"type": "message", "role": "assistant", "phase": "commentary", "content": "Checking."},
    {"type": "message", "role": "assistant", "phase": "final_answer", "content": "It is four."},
    {"type": "message", "role": "user", "content": "Repeat only the number."},
]


@pytest.fixture(autouse=True)
def _needs_responses(caps: Capabilities) -> None:
    caps.need("responses")


def test_responses_shape_and_usage(client: ApiClient, settings: Settings, model: str) -> None:
    body, ex = r.create(client, settings.profile, r.body(model, max_output_tokens=32))
    ensure(body["object"] == "response", rules.OBJECT, "object must be 'response'", ex)
    ensure(
        body.get("status") in ("completed", "incomplete"),
        rules.OBJECT,
        f"a finished response is 'completed' or 'incomplete', got {body.get('status')!r}",
        ex,
        cause=f"{rules.OBJECT}: status {body.get('status')!r}",
    )
    messages = r.items_of(body, "message")
    ensure(messages, rules.OUTPUT, "without tools the output must hold an assistant message", ex)
    ensure(
        all(m.get("role") == "assistant" for m in messages),
        rules.OUTPUT,
        "output messages must have role 'assistant'",
        ex,
        cause=f"{rules.OUTPUT}: role",
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
            rules.ECHO,
            f"the response must repeat {field}={expected!r}, got {body.get(field)!r}",
            ex,
            cause=f"{rules.ECHO}: {field}",
        )


def test_responses_max_output_tokens_gives_incomplete(
    client: ApiClient, settings: Settings, model: str
) -> None:
    prompt = r.long_prompt(client, settings.profile, model)
    if prompt is None:
        pytest.skip("the model's own texts show it stops within 16 tokens for every probe prompt")
    body, ex = r.create(client, settings.profile, r.body(model, prompt, max_output_tokens=16))
    ensure(
        body.get("status") == "incomplete",
        rules.INCOMPLETE,
        f"max_output_tokens=16 cut a longer answer: status must be 'incomplete', "
        f"got {body.get('status')!r}",
        ex,
        cause=f"{rules.INCOMPLETE}: status",
    )
    reason = (body.get("incomplete_details") or {}).get("reason")
    ensure(
        reason == "max_output_tokens",
        rules.INCOMPLETE,
        f"incomplete_details.reason must be 'max_output_tokens', got {reason!r}",
        ex,
        cause=f"{rules.INCOMPLETE}: reason",
    )
    # Only the item the limit cut is incomplete: items finished before it (a reasoning item, a
    # call) keep their own status, as OpenAI reports them.
    ensure(body["output"], rules.INCOMPLETE, "the cut response has no output item", ex)
    item = body["output"][-1]
    ensure(
        item.get("status") == "incomplete",
        rules.INCOMPLETE,
        f"the {item.get('type')} item cut by the limit must have status 'incomplete', "
        f"got {item.get('status')!r}",
        ex,
        cause=f"{rules.INCOMPLETE}: item status",
    )


def _forced_call(client: ApiClient, settings: Settings, model: str) -> tuple[dict, dict, object]:
    request = r.body(
        model,
        r.WEATHER_QUESTION,
        tools=[r.FUNCTION_TOOL],
        tool_choice=r.FORCE_TOOL,
        max_output_tokens=64,
    )
    body, ex = r.create(client, settings.profile, request)
    calls = r.items_of(body, "function_call")
    ensure(calls, rules.TOOLS, "tool_choice forced get_weather but no function_call item", ex)
    return body, calls[0], ex


def test_responses_forced_function_call(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("responses_tools")
    _, call, ex = _forced_call(client, settings, model)
    ensure(
        call.get("name") == "get_weather",
        rules.TOOLS,
        f"wrong name {call!r}",
        ex,
        cause=f"{rules.TOOLS}: name",
    )
    ensure(
        isinstance(call.get("call_id"), str) and call["call_id"],
        rules.TOOLS,
        "a function_call needs a non-empty call_id to answer it with",
        ex,
        cause=f"{rules.TOOLS}: call_id",
    )
    arguments = r.parsed_arguments(call, ex, rules.TOOLS)
    ensure(
        isinstance(arguments, dict) and arguments.get("city") in ("Paris", "Tokyo"),
        rules.TOOLS,
        f"arguments {arguments!r} do not match the tool's parameters",
        ex,
        cause=f"{rules.TOOLS}: arguments do not match",
    )


def test_responses_function_call_output_round_trip(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("responses_tools")
    _, call, _ = _forced_call(client, settings, model)
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"c": 21}'}
    question = {"role": "user", "content": r.WEATHER_QUESTION}
    request = r.body(model, [question, call, result], tools=[r.FUNCTION_TOOL], tool_choice="none")
    body, ex = r.create(client, settings.profile, request)
    ensure(
        not r.items_of(body, "function_call"),
        rules.TOOL_OUTPUT,
        "tool_choice 'none' after a function_call_output, but the model called again",
        ex,
        cause=f"{rules.TOOL_OUTPUT}: called again",
    )
    ensure(r.items_of(body, "message"), rules.TOOL_OUTPUT, "no answer message", ex)


def test_responses_text_format_json_schema(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("response_format")
    request = r.body(
        model,
        "Answer in JSON: is water wet?",
        text={"format": r.TEXT_JSON_SCHEMA},
        max_output_tokens=JSON_LIMIT,
    )
    body, ex = r.create(client, settings.profile, request)
    text = r.output_text(body)
    try:
        parsed = json.loads(text)
    except ValueError:
        # Only the token count, not the status (the server's word), may excuse a cut answer.
        used = (body.get("usage") or {}).get("output_tokens")
        if isinstance(used, int) and used >= JSON_LIMIT:
            pytest.skip(f"the JSON answer was cut by max_output_tokens={JSON_LIMIT}")
        fail(rules.TEXT_FORMAT, f"json_schema output does not parse: {text!r}", ex)
    ensure(
        isinstance(parsed, dict) and isinstance(parsed.get("ok"), bool) and set(parsed) == {"ok"},
        rules.TEXT_FORMAT,
        f"output {parsed!r} does not match the requested schema",
        ex,
        cause=f"{rules.TEXT_FORMAT}: schema",
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", list(rules.INPUT_FORMS))
def test_responses_mandatory_input_forms(
    client: ApiClient, settings: Settings, model: str, form: str, mode: str
) -> None:
    """Inputs every client sends are part of the contract: a 4xx is a failure, not a declined
    feature. Function items are sent without tools: a server that runs no tools still reads a
    conversation that holds a tool turn."""
    _accepted(client, settings, model, _FORM_INPUTS[form], mode, rules.INPUT_FORMS[form], form)


@pytest.mark.parametrize("mode", MODES)
def test_responses_assistant_phase_accepted(
    client: ApiClient, settings: Settings, model: str, mode: str
) -> None:
    if not settings.openresponses:
        pytest.skip(
            "assistant message phases are an Open Responses rule: need --profile openresponses"
        )
    _accepted(client, settings, model, _PHASED_INPUT, mode, INPUT_PHASE, "phased")


def _accepted(
    client: ApiClient,
    settings: Settings,
    model: str,
    items: list,
    mode: str,
    rule: Rule,
    form: str,
) -> None:
    request = r.body(model, items)
    exchange = r.send(client, request, mode)
    if exchange.status is not None and exchange.status != 200:
        fail(rule, f"the {form} input was answered {exchange.status}: {rule.reason}", exchange)
    response = r.response_of(exchange, request, mode, settings.profile)
    r.said(response, exchange, f"the answer to the {form} input")
