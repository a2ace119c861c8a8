"""Checks shared by the Responses API tests: bodies and events validated against specs/."""

from __future__ import annotations

import json
from typing import Any

import httpx

import specs
from tests.reference_server._assertions import MODEL, check_schema, json_body, parse_sse

RESPONSES = "/v1/responses"
OP = "createResponse"
ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
ADD_TOOL = {"type": "function", "name": "add", "description": "a + b", "parameters": ADD}
FORCE_ADD = {"type": "function", "name": "add"}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def response_body(**overrides: Any) -> dict[str, Any]:
    """A small temperature-0 request; "Hello" greedily answers in 19 tokens, then stops."""
    body: dict[str, Any] = {"model": MODEL, "input": "Hello", "temperature": 0}
    body.update(overrides)
    return body


def create(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    return json_body(http.post(RESPONSES, json=response_body(**overrides)), OP)


def stream(http: httpx.Client, **overrides: Any) -> list[dict[str, Any]]:
    """The events of a streamed response: framing, `event:` names, schema per type, numbering."""
    response = http.post(RESPONSES, json=response_body(stream=True, **overrides))
    assert response.status_code == 200, response.text[:800]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("\n\n"), response.text[-200:]
    validators = specs.stream_event_validators(OP)
    events = []
    raw = list(parse_sse(response.text))
    # Open Responses ends the stream with a bare `data: [DONE]` after the terminal event.
    assert raw and raw[-1].data == "[DONE]" and raw[-1].event == "message", raw[-1:]
    for number, sse in enumerate(raw[:-1]):
        event = json.loads(sse.data)
        assert sse.event == event["type"], (sse.event, event["type"])
        check_schema(validators[event["type"]], event, f"event {number}")
        assert event["sequence_number"] == number, (number, event)
        events.append(event)
    assert events and events[-1]["type"] in TERMINAL, [e["type"] for e in events]
    assert not any(e["type"] in TERMINAL for e in events[:-1])
    return events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """Event types with runs of deltas folded into one `<type>*` entry."""
    out: list[str] = []
    for event in events:
        kind = event["type"]
        if kind.endswith(".delta"):
            kind += "*"
            if out and out[-1] == kind:
                continue
        out.append(kind)
    return out


def joined(events: list[dict[str, Any]], kind: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == kind)


def output_text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


def function_calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in response["output"] if item["type"] == "function_call"]
