"""The Responses API, streamed: every event against its schema, OpenAI's event order, increasing
sequence numbers, deltas that join to the final text, and stream = non-stream at temperature 0."""

from __future__ import annotations

import pytest

from compliance import _responses as r
from compliance import _responses_rules as rules
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings


@pytest.fixture(autouse=True)
def _needs_responses(caps: Capabilities) -> None:
    caps.need("responses")


def _streamed(client: ApiClient, settings: Settings, request: dict) -> tuple[list, dict, object]:
    exchange = r.stream(client, request)
    events = r.stream_events(exchange, settings.profile)
    return events, r.check_order(events, exchange, settings.profile), exchange


def test_responses_stream_events_and_order(
    client: ApiClient, settings: Settings, model: str
) -> None:
    events, final, ex = _streamed(client, settings, r.body(model, max_output_tokens=32))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    ensure(
        deltas == r.output_text(final),
        rules.STREAM_DELTAS,
        f"the output_text deltas joined ({deltas!r}) differ from the final text "
        f"({r.output_text(final)!r})",
        ex,
    )
    r.said(final, ex, "the streamed response")  # equal, and not both empty
    if final.get("usage") is not None or settings.strict:
        r.check_usage(final.get("usage"), 32, ex)


def test_responses_stream_equals_non_stream(
    client: ApiClient, settings: Settings, model: str
) -> None:
    request = r.body(model)
    whole, whole_ex = r.create(client, settings.profile, request)
    expected = r.said(whole, whole_ex, "the non-streamed response")
    _, final, ex = _streamed(client, settings, request)
    streamed = r.said(final, ex, "the streamed response")
    ensure(
        streamed == expected,
        rules.STREAM_EQUIVALENCE,
        f"temperature-0 stream text {streamed!r} != non-stream text {expected!r}",
        ex,
    )


def test_responses_stream_incomplete(client: ApiClient, settings: Settings, model: str) -> None:
    prompt = r.long_prompt(client, settings.profile, model)
    if prompt is None:
        pytest.skip("the model's own texts show it stops within 16 tokens for every probe prompt")
    events, final, ex = _streamed(client, settings, r.body(model, prompt, max_output_tokens=16))
    ensure(
        events[-1]["type"] == "response.incomplete",
        rules.STREAM_INCOMPLETE,
        f"max_output_tokens cut the answer: the stream must end with response.incomplete, "
        f"not {events[-1]['type']}",
        ex,
    )
    reason = (final.get("incomplete_details") or {}).get("reason")
    ensure(
        reason == "max_output_tokens",
        rules.STREAM_INCOMPLETE,
        f"incomplete_details.reason must be 'max_output_tokens', got {reason!r}",
        ex,
        cause=f"{rules.STREAM_INCOMPLETE}: reason",
    )


def test_responses_stream_function_call(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("responses_tools")
    request = r.body(
        model,
        r.WEATHER_QUESTION,
        tools=[r.FUNCTION_TOOL],
        tool_choice=r.FORCE_TOOL,
        max_output_tokens=64,
    )
    events, final, ex = _streamed(client, settings, request)
    calls = r.items_of(final, "function_call")
    ensure(calls, rules.STREAM_ARGUMENTS, "a forced call streamed no function_call", ex)
    added = [
        e["item"]
        for e in events
        if e["type"] == "response.output_item.added" and e["item"].get("type") == "function_call"
    ]
    ensure(added, rules.STREAM_ORDER, "the function_call item was never added", ex)
    arguments = r.parsed_arguments(calls[0], ex, rules.STREAM_ARGUMENTS)
    ensure(
        isinstance(arguments, dict),
        rules.STREAM_ARGUMENTS,
        f"the arguments are not a JSON object: {arguments!r}",
        ex,
        cause=f"{rules.STREAM_ARGUMENTS}: not an object",
    )
