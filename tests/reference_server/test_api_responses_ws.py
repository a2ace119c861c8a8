"""The Responses API over WebSocket (GET /v1/responses): sequential turns on one connection,
the SSE stream's events, continuation from connection-local state, errors as events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from websockets.sync.client import ClientConnection, connect

import specs
from tests.reference_server._assertions import MODEL, sdk_client
from tests.reference_server._responses import OP, RESPONSES, TERMINAL, response_body

MAX_MESSAGES = 500
ERROR_EVENT = Draft202012Validator(specs.schema_for("ResponseWebSocketErrorEvent"))
CREATE_MESSAGE = Draft202012Validator(specs.schema_for("ResponseCreateMessage"))


def create(**overrides: Any) -> dict[str, Any]:
    message = {"type": "response.create", **response_body(max_output_tokens=16, **overrides)}
    assert not list(CREATE_MESSAGE.iter_errors(message)), message
    return message


@pytest.fixture
def ws(base_url: str) -> Iterator[ClientConnection]:
    url = base_url.replace("http://", "ws://") + RESPONSES
    with connect(url, open_timeout=10, close_timeout=5) as connection:
        yield connection


def turn(ws: ClientConnection, message: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Sends one message; returns the events up to the terminal one, or the one error event."""
    ws.send(message if isinstance(message, str) else json.dumps(message))
    validators = specs.stream_event_validators(OP)
    events: list[dict[str, Any]] = []
    for _ in range(MAX_MESSAGES):
        raw = ws.recv(timeout=30)
        assert isinstance(raw, str) and raw != "[DONE]", raw  # a turn ends at its terminal event
        event = json.loads(raw)
        events.append(event)
        if event["type"] == "error":
            assert not list(ERROR_EVENT.iter_errors(event)), event
            assert len(events) == 1, events  # a turn that cannot start sends nothing else
            return events
        errors = list(validators[event["type"]].iter_errors(event))
        assert not errors, (event, errors[0].message)
        assert event["sequence_number"] == len(events) - 1, event
        if event["type"] in TERMINAL:
            return events
    raise AssertionError(f"no terminal event in {MAX_MESSAGES} messages")


def final(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["type"] in ("response.completed", "response.incomplete"), events[-1]
    return events[-1]["response"]


def error_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["type"] == "error", events[-1]
    return events[-1]


def test_sequential_turns_on_one_connection(ws: ClientConnection) -> None:
    first = final(turn(ws, create(store=False)))
    second_events = turn(ws, create(store=False, input="Again"))
    assert second_events[0]["type"] == "response.created"
    second = final(second_events)
    assert first["id"] != second["id"] and second["previous_response_id"] is None
    assert first["store"] is False and first["output"][0]["type"] == "message"


def test_a_turn_answers_what_http_answers(ws: ClientConnection, base_url: str) -> None:
    over_ws = final(turn(ws, create(store=False)))
    body = response_body(max_output_tokens=16, store=False)
    whole = httpx.post(base_url + RESPONSES, json=body, timeout=30).json()
    assert over_ws["output"][0]["content"] == whole["output"][0]["content"]  # temperature 0
    for field in ("input_tokens", "output_tokens", "total_tokens"):
        assert over_ws["usage"][field] == whole["usage"][field]


def test_continuation_of_a_store_false_response(ws: ClientConnection, base_url: str) -> None:
    first = final(turn(ws, create(store=False)))
    second = final(turn(ws, create(store=False, previous_response_id=first["id"], input="More")))
    assert second["previous_response_id"] == first["id"]
    # The earlier turn is context: the prompt holds its input and output.
    assert second["usage"]["input_tokens"] > first["usage"]["total_tokens"]
    # Nothing was stored: over HTTP the id is unknown.
    assert httpx.get(f"{base_url}{RESPONSES}/{first['id']}", timeout=10).status_code == 404


def test_a_stored_response_continues_on_any_connection(ws: ClientConnection, base_url: str) -> None:
    first = final(turn(ws, create()))
    assert httpx.get(f"{base_url}{RESPONSES}/{first['id']}", timeout=10).json() == first
    url = base_url.replace("http://", "ws://") + RESPONSES
    with connect(url, open_timeout=10, close_timeout=5) as other:
        again = final(turn(other, create(previous_response_id=first["id"], input="More")))
    assert again["previous_response_id"] == first["id"]


def test_a_reconnect_loses_a_store_false_chain(ws: ClientConnection, base_url: str) -> None:
    first = final(turn(ws, create(store=False)))
    url = base_url.replace("http://", "ws://") + RESPONSES
    with connect(url, open_timeout=10, close_timeout=5) as other:
        miss = error_of(turn(other, create(store=False, previous_response_id=first["id"])))
        assert miss["status"] == 404
        assert miss["error"]["code"] == "previous_response_not_found"
        assert miss["error"]["param"] == "previous_response_id"
        final(turn(other, create(store=False)))  # the connection stays usable


def test_a_failed_continuation_forgets_what_it_continued(ws: ClientConnection) -> None:
    first = final(turn(ws, create(store=False)))
    orphan = {"type": "function_call_output", "call_id": "call_unknown", "output": "42"}
    failed = error_of(
        turn(ws, create(store=False, previous_response_id=first["id"], input=[orphan]))
    )
    assert failed["status"] == 400 and failed["error"]["param"] == "input[0].call_id"
    retry = error_of(turn(ws, create(store=False, previous_response_id=first["id"])))
    assert retry["error"]["code"] == "previous_response_not_found"


def test_only_the_latest_response_is_kept(ws: ClientConnection) -> None:
    first = final(turn(ws, create(store=False)))
    final(turn(ws, create(store=False, input="Next")))
    stale = error_of(turn(ws, create(store=False, previous_response_id=first["id"])))
    assert stale["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize(
    ("message", "param", "code"),
    [
        ("not json", None, "invalid_json"),
        (json.dumps({"model": MODEL, "input": "Hi"}), "type", "unknown_event_type"),
        (json.dumps({"type": "response.cancel"}), "type", "unknown_event_type"),
        (json.dumps({"type": "response.create", "input": "Hi"}), "model", None),
        (
            json.dumps({**response_body(), "type": "response.create", "temperature": 5}),
            "temperature",
            None,
        ),
        (
            json.dumps({**response_body(), "type": "response.create", "model": "nope"}),
            "model",
            "model_not_found",
        ),
    ],
)
def test_bad_messages_are_error_events_and_the_connection_stays(
    ws: ClientConnection, message: str, param: str | None, code: str | None
) -> None:
    error = error_of(turn(ws, message))
    assert error["status"] in (400, 404)
    assert error["error"]["param"] == param
    assert error["error"]["code"] == (code or error["error"]["type"])
    final(turn(ws, create(store=False)))


def test_stream_fields_are_ignored(ws: ClientConnection) -> None:
    events = turn(ws, {**create(store=False), "stream": False, "stream_options": {}})
    assert final(events)["status"] in ("completed", "incomplete")


def test_openai_sdk_websocket_mode(base_url: str) -> None:
    """OpenAI's SDK (`responses.connect`) drives the mode: a continued turn, then an error."""
    sdk = sdk_client(base_url)
    with sdk.responses.connect(max_retries=0) as connection:
        ends: list[Any] = []
        for number in range(2):
            previous = {"previous_response_id": ends[-1].response.id} if ends else {}
            connection.response.create(
                **response_body(max_output_tokens=16, store=False, **previous)
            )
            for _, event in zip(range(MAX_MESSAGES), connection, strict=False):
                if event.type in TERMINAL:
                    ends.append(event)
                    break
            assert len(ends) == number + 1
        assert ends[1].response.previous_response_id == ends[0].response.id
        connection.response.create(**response_body(store=False, previous_response_id="resp_gone"))
        error = next(iter(connection))
        assert error.type == "error" and error.error.code == "previous_response_not_found"


def _route_counts(base_url: str) -> tuple[float, float]:
    """Started and completed requests of the /v1/responses route, from /metrics."""
    started = completed = 0.0
    for line in httpx.get(base_url + "/metrics", timeout=10).text.splitlines():
        if 'route="/v1/responses"' not in line:
            continue
        if line.startswith("inferno_requests_started_total"):
            started += float(line.rsplit(" ", 1)[1])
        elif line.startswith("inferno_requests_finished_total") and "completed" in line:
            completed += float(line.rsplit(" ", 1)[1])
    return started, completed


def test_each_turn_is_one_request_in_metrics(base_url: str) -> None:
    before = _route_counts(base_url)
    url = base_url.replace("http://", "ws://") + RESPONSES
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        final(turn(ws, create(store=False)))
        error_of(turn(ws, "not json"))  # a 400 is a complete answer
        final(turn(ws, create(store=False)))
    after = _route_counts(base_url)
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)


def test_a_plain_get_is_told_to_upgrade(base_url: str) -> None:
    response = httpx.get(base_url + RESPONSES, timeout=10)
    assert response.status_code == 426, response.text  # not a 5xx: the client's mistake
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "websocket_upgrade_required"
