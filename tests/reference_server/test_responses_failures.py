"""Streamed responses that go wrong: an inference failure ends with `response.failed`, the request
deadline with `response.incomplete`; neither stores a half response as complete."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import specs
from inferno.sse import parse as parse_sse
from tests.reference_server._faulty_server import (
    FAIL_LATER,
    FAIL_NOW,
    MODEL_ID,
    faulty_server,
    wait_until_idle,
)
from tests.reference_server._responses import RESPONSES, kinds

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

REQUEST_TIMEOUT = 1.0


def _body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL_ID, "input": prompt, "max_output_tokens": 200, **extra}


def _events(base_url: str, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]]]:
    response = httpx.post(base_url + RESPONSES, json={**body, "stream": True}, timeout=30)
    events = []
    validators = specs.stream_event_validators("createResponse")
    for sse in parse_sse(response.content):
        if sse.data == "[DONE]":  # the end of a stream that finished (Open Responses)
            continue
        event = json.loads(sse.data)
        assert not list(validators[event["type"]].iter_errors(event)), event
        events.append(event)
    return response, events


@pytest.fixture(scope="module")
def failing() -> Iterator[str]:
    with faulty_server([], inference_error=1, no_eos=1) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def deadline() -> Iterator[str]:
    args = ["--request-timeout", str(REQUEST_TIMEOUT), "--sse-keepalive-s", "100"]
    with faulty_server(args, token_delay=0.02, no_eos=1) as server:
        yield server.base_url


def test_failure_before_the_first_token_is_a_500_envelope(failing: str) -> None:
    response = httpx.post(failing + RESPONSES, json=_body(f"please {FAIL_NOW}"), timeout=30)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def test_failure_mid_stream_ends_with_response_failed(failing: str) -> None:
    response, events = _events(failing, _body(f"please {FAIL_LATER}"))
    assert response.status_code == 200
    assert "[DONE]" not in response.text
    assert kinds(events)[-1] == "response.failed"
    assert "response.output_text.delta*" in kinds(events)
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and "inference failed" in failed["error"]["message"]
    # A failed response is not stored: retrieving it is a 404.
    assert httpx.get(f"{failing}{RESPONSES}/{failed['id']}", timeout=10).status_code == 404


def test_the_deadline_ends_a_stream_with_response_incomplete(deadline: str) -> None:
    response, events = _events(deadline, _body("a long answer"))
    assert response.status_code == 200
    assert ": request timeout after" in response.text
    assert kinds(events)[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    final = events[-1]["response"]
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    wait_until_idle(deadline, timeout=2.0)  # the generation behind the stream was stopped
