"""The responses area's rules, request bodies and checks of the Responses API (`/responses`).

Every rule of the area is declared here, so the area's rules live in one place. Checks never
assume what a model says: expectations come from the server's own answers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance import _openresponses, _schema
from compliance import _shared_rules as R
from compliance._capabilities import JSON_SCHEMA_FORMAT, TOOL
from compliance._checks import CHAT_PROMPTS, LONG_PROMPT, expect_ok, stream_framing
from compliance._client import ApiClient, Exchange
from compliance._failure import ensure, fail
from compliance._reasoning import check_response
from compliance._responses_items import ItemTracker
from compliance._responses_rules import (
    STREAM_DONE,
    STREAM_EVENT_NAME,
    STREAM_ORDER,
    STREAM_SEQUENCE,
    STREAM_TERMINAL,
    USAGE,
)
from compliance.rules import Rule

OP = "createResponse"
PATH = "/responses"

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
TERMINAL_STATUS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}
# The same weather tool and structured format as the chat checks, in the Responses spelling.
FUNCTION_TOOL = {"type": "function", **TOOL["function"]}
FORCE_TOOL = {"type": "function", "name": TOOL["function"]["name"]}
TEXT_JSON_SCHEMA = {"type": "json_schema", **JSON_SCHEMA_FORMAT["json_schema"]}
WEATHER_QUESTION = "What is the weather in Paris?"
# Stream bounds: a response of N tokens has about N + 10 events; anything far beyond is endless.
EVENTS_PER_TOKEN = 3
EVENTS_SLACK = 48
MIN_OUTPUT_TOKENS = 16  # OpenAI's documented minimum of max_output_tokens


def body(model: str, prompt: Any = LONG_PROMPT, **extra: Any) -> dict[str, Any]:
    """A small temperature-0 request; `prompt` is the input (a string or a list of items)."""
    request = {"model": model, "input": prompt, "max_output_tokens": 16, "temperature": 0}
    request.update(extra)
    return {k: v for k, v in request.items() if v is not None}


def create(client: ApiClient, profile: str, request: dict[str, Any]) -> Any:
    """A non-streamed response, checked against the spec and the invariants every response
    holds (usage that adds up, reasoning in its place); returns (body, exchange)."""
    exchange = client.post(PATH, request)
    return response_of(exchange, request, "plain", profile), exchange


def send(client: ApiClient, request: dict[str, Any], mode: str) -> Exchange:
    """The raw exchange of one request, plain or streamed (for checks of what status came)."""
    return client.post(PATH, request) if mode == "plain" else stream(client, request)


def response_of(
    exchange: Exchange, request: dict[str, Any], mode: str, profile: str
) -> dict[str, Any]:
    """The response a plain body or a stream's terminal event holds, after the checks of its
    mode (schema, invariants; framing and event order for a stream)."""
    if mode == "stream":
        return check_order(stream_events(exchange, profile), exchange, profile)
    response = expect_ok(exchange, OP, profile)
    check_invariants(response, request, exchange)
    if _openresponses.active(profile):
        _openresponses.check_response(response, exchange)
    return response


def check_invariants(response: dict[str, Any], request: dict[str, Any], exchange: Exchange) -> None:
    """What any response implies, whichever check asked for it: usage where there is one adds
    up within the request's limit, and reasoning items keep their shape and place."""
    if isinstance(response.get("usage"), dict):
        check_usage(response["usage"], int(request.get("max_output_tokens") or 2**31), exchange)
    check_response(response, exchange)


def output_text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text") or ""
        for item in response.get("output") or ()
        if item.get("type") == "message"
        for part in item.get("content") or ()
        if part.get("type") == "output_text"
    )


def said(response: dict[str, Any], exchange: Exchange | None, what: str) -> str:
    """The response's output text, which must not be empty where a check compares it: two empty
    texts are equal and prove nothing. A response whose only output is reasoning is the model's
    own sign that it spent the limit thinking: the check cannot judge it, and skips."""
    text = output_text(response)
    if not text and items_of(response, "reasoning"):
        pytest.skip(f"{what} holds only reasoning (the model spent the limit): nothing to compare")
    ensure(
        text,
        R.EMPTY,
        f"{what} holds no output text: nothing to compare",
        exchange,
        cause=f"{R.EMPTY}: no output text",
    )
    return text


def input_text(item: dict[str, Any]) -> str:
    """The text of a message item, whether its content is a string or a list of parts."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content or ())


def items_of(response: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in response.get("output") or () if item.get("type") == kind]


def check_usage(usage: Any, limit: int, exchange: Exchange, rule: Rule = USAGE) -> None:
    """Token counts are non-negative integers that add up and respect the limit."""
    ensure(isinstance(usage, dict), rule, f"usage must be an object, got {usage!r}", exchange)
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        value = usage.get(key)
        ensure(
            isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            rule,
            f"usage.{key} must be a non-negative integer, got {value!r}",
            exchange,
        )
    ensure(
        usage["input_tokens"] >= 1, rule, "usage.input_tokens is 0 for a non-empty input", exchange
    )
    total = usage["input_tokens"] + usage["output_tokens"]
    ensure(
        usage["total_tokens"] == total,
        rule,
        f"usage.total_tokens {usage['total_tokens']} != input_tokens + output_tokens ({total})",
        exchange,
    )
    ensure(
        usage["output_tokens"] <= limit,
        rule,
        f"output_tokens {usage['output_tokens']} > max_output_tokens {limit}",
        exchange,
        cause=f"{rule} over max_output_tokens",
    )


def long_prompt(client: ApiClient, profile: str, model: str) -> str | None:
    """A prompt whose answer the 16-token limit cuts, or None when the model stops on its own.

    Decided from the texts, which a server cannot misreport the way it can misreport a status:
    at temperature 0 the 16-token answer is a strict prefix of the 48-token one exactly when the
    model had more to say.
    """
    for prompt in CHAT_PROMPTS:
        short, _ = create(client, profile, body(model, prompt, max_output_tokens=MIN_OUTPUT_TOKENS))
        long, exchange = create(client, profile, body(model, prompt, max_output_tokens=48))
        cut = output_text(short)
        whole = said(long, exchange, "the 48-token response")
        if len(cut) < len(whole) and whole.startswith(cut):
            return prompt
    return None


def parsed_arguments(call: dict[str, Any], exchange: Exchange, rule: Rule) -> Any:
    arguments = call.get("arguments")
    ensure(
        isinstance(arguments, str),
        rule,
        f"function_call.arguments must be a JSON string, got {type(arguments).__name__}",
        exchange,
        cause=f"{rule}: arguments not a string",
    )
    try:
        return json.loads(arguments)
    except ValueError:
        fail(
            rule,
            f"arguments do not parse as JSON: {arguments!r}",
            exchange,
            cause=f"{rule}: arguments not JSON",
        )


# -- streams -----------------------------------------------------------------------------------


def stream(client: ApiClient, request: dict[str, Any]) -> Exchange:
    limit = EVENTS_PER_TOKEN * int(request.get("max_output_tokens") or 16) + EVENTS_SLACK
    return client.stream(PATH, {**request, "stream": True}, max_events=limit)


def stream_events(exchange: Exchange, profile: str) -> list[dict[str, Any]]:
    """The framing of a Responses stream and every event against the spec (schema per `type`)."""
    raw = list(stream_framing(exchange))
    framed = list(raw)
    if raw and raw[-1].data.strip() == "[DONE]":
        raw.pop()  # OpenAI sends none; its SDK tolerates one at the very end
    ensure(raw, R.SSE_EMPTY, "the stream carried no events", exchange)
    events = checked_events([(e.data, e.event) for e in raw], exchange, profile)
    if _openresponses.active(profile):
        _openresponses.check_framing(framed, exchange)
    return events


def checked_events(
    messages: list[tuple[str, str | None]], exchange: Exchange, profile: str
) -> list[dict[str, Any]]:
    """Each event (its data, and its SSE `event:` name or None) parsed and checked against the
    spec, the schema of its `type`, and increasing sequence numbers: what an SSE stream and a
    WebSocket-mode turn share."""
    union = _schema.chunk(OP, profile)
    by_type = _schema.chunks_by_type(OP, profile)
    events: list[dict[str, Any]] = []
    for index, (data, name) in enumerate(messages):
        ensure(
            data.strip() != "[DONE]",
            STREAM_DONE,
            f"`data: [DONE]` at event {index}, before the end",
            exchange,
        )
        try:
            event = json.loads(data)
        except ValueError:
            fail(R.SSE_JSON, f"event {index} is not JSON: {data[:200]!r}", exchange)
        if isinstance(event, dict) and "error" in event and "type" not in event:
            fail(R.SSE_HIDDEN_ERROR, f"event {index} is an error without an event type", exchange)
        kind = event.get("type") if isinstance(event, dict) else None
        _schema.check(
            by_type.get(kind, union),
            event,
            R.CHUNK_SCHEMA,
            exchange,
            f"event {index}",
            scope=f"{OP} {kind}",
            profile=profile,
        )
        if name not in (None, "message"):  # "message": no `event:` line was sent
            ensure(
                name == kind,
                STREAM_EVENT_NAME,
                f"event {index}: `event: {name}` names another type than {kind!r}",
                exchange,
            )
        if events:
            previous = events[-1]["sequence_number"]
            ensure(
                event["sequence_number"] > previous,
                STREAM_SEQUENCE,
                f"event {index} ({kind}) has sequence_number {event['sequence_number']} after "
                f"{previous}: they must increase",
                exchange,
            )
        events.append(event)
    return events


def check_order(
    events: list[dict[str, Any]], exchange: Exchange, profile: str = "openai"
) -> dict[str, Any]:
    """OpenAI's event order (and Open Responses' item states under that profile); returns the
    final response of the terminal event."""
    kinds = [e["type"] for e in events]
    ensure(
        kinds[0] == "response.created",
        STREAM_ORDER,
        f"the first event must be response.created, got {kinds[0]}",
        exchange,
    )
    terminals = [i for i, kind in enumerate(kinds) if kind in TERMINAL]
    ensure(
        terminals == [len(kinds) - 1],
        STREAM_TERMINAL,
        f"exactly one terminal event ({', '.join(TERMINAL)}) must end the stream; "
        f"event types: {_summary(kinds)}",
        exchange,
    )
    final = events[-1]["response"]
    ensure(
        final.get("status") == TERMINAL_STATUS[kinds[-1]],
        STREAM_TERMINAL,
        f"{kinds[-1]} carries a response with status {final.get('status')!r}",
        exchange,
        cause=f"{STREAM_TERMINAL}: status differs from the event",
    )
    ensure(
        final.get("id") == events[0]["response"].get("id"),
        STREAM_ORDER,
        "response.created and the terminal event name different responses",
        exchange,
        cause=f"{STREAM_ORDER}: the response id changes",
    )
    ensure(
        kinds.count("response.created") == 1,
        STREAM_ORDER,
        f"response.created must open the stream once; event types: {_summary(kinds)}",
        exchange,
        cause=f"{STREAM_ORDER}: created repeated",
    )
    ItemTracker(exchange).run(events, final)
    check_invariants(final, {}, exchange)
    if _openresponses.active(profile):
        _openresponses.check_items(events, exchange)
        _openresponses.check_response(final, exchange)
    return final


def _summary(kinds: list[str]) -> str:
    folded: list[str] = []
    for kind in kinds:
        label = kind + "*" if kind.endswith(".delta") else kind
        if not (folded and folded[-1] == label and label.endswith("*")):
            folded.append(label)
    return ", ".join(folded)
