"""The Responses part of the spec accepts what OpenAI documents and rejects the deviations."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import specs

USAGE = {
    "input_tokens": 5,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 2,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 7,
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []}],
}
CALL = {
    "id": "fc_1",
    "type": "function_call",
    "status": "completed",
    "call_id": "call_1",
    "name": "add",
    "arguments": '{"a": 1}',
}
RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "model": "m",
    "output": [MESSAGE, CALL],
    "parallel_tool_calls": True,
    "metadata": {},
    "tool_choice": "auto",
    "tools": [],
    "temperature": 1.0,
    "top_p": 1.0,
    "usage": USAGE,
}


def _valid(validator: Any, instance: Any) -> bool:
    return not list(validator.iter_errors(instance))


def _changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is KeyError:
        del node[int(last) if isinstance(node, list) else last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return out


REQUESTS_OK = [
    {"model": "m", "input": "Hello"},
    {"model": "m", "input": [{"role": "user", "content": "Hi"}], "max_output_tokens": 16},
    {
        "model": "m",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            MESSAGE,
            CALL,
            {"type": "function_call_output", "call_id": "call_1", "output": "3"},
        ],
        "tools": [{"type": "function", "name": "add", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "add"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
    },
    # Documented by OpenAI, declined by a local server with a 400 rather than by the spec.
    {"model": "m", "input": "Hi", "tools": [{"type": "web_search"}]},
    {"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": []}]},
]
REQUESTS_BAD = [
    ({"input": "Hello"}, "model"),
    ({"model": "m", "input": 42}, "input"),
    ({"model": "m", "input": "Hi", "max_output_tokens": 15}, "max_output_tokens"),
    ({"model": "m", "input": "Hi", "temperature": 2.5}, "temperature"),
    ({"model": "m", "input": [{"role": "wizard", "content": "hi"}]}, "role"),
    ({"model": "m", "input": "Hi", "tools": [{"type": "function"}]}, "tool without a name"),
    ({"model": "m", "input": [{**CALL, "arguments": {"a": 1}}]}, "arguments as an object"),
    ({"model": "m", "input": "Hi", "text": {"format": {"type": "yaml"}}}, "text.format"),
]


@pytest.mark.parametrize("body", REQUESTS_OK)
def test_requests_openai_documents_are_valid(body: dict[str, Any]) -> None:
    assert _valid(specs.request_validator("createResponse"), body)


@pytest.mark.parametrize("body,why", REQUESTS_BAD, ids=[why for _, why in REQUESTS_BAD])
def test_malformed_requests_are_invalid(body: dict[str, Any], why: str) -> None:
    assert not _valid(specs.request_validator("createResponse"), body)


def test_a_response_and_its_deviations() -> None:
    validator = specs.response_validator("createResponse")
    assert _valid(validator, RESPONSE)
    assert _valid(validator, _changed(RESPONSE, "usage", None))  # as in early stream events
    for path, value in [
        ("output.1.arguments", {"a": 1}),  # arguments as an object
        ("output.0.content.0.logprobs", KeyError),
        ("usage.output_tokens_details", KeyError),
        ("tools", KeyError),
        ("status", "done"),
        ("incomplete_details", {"reason": "length"}),
    ]:
        assert not _valid(validator, _changed(RESPONSE, path, value)), path


def test_every_event_needs_a_sequence_number_and_its_own_fields() -> None:
    union = specs.stream_event_validator("createResponse")
    by_type = specs.stream_event_validators("createResponse")
    delta = {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        "logprobs": [],
        "sequence_number": 4,
    }
    created = {"type": "response.created", "sequence_number": 0, "response": RESPONSE}
    for event in (delta, created):
        assert _valid(union, event) and _valid(by_type[event["type"]], event)
        assert not _valid(union, _changed(event, "sequence_number", KeyError))
        assert not _valid(by_type[event["type"]], _changed(event, "sequence_number", KeyError))
    assert not _valid(
        by_type["response.output_text.delta"], _changed(delta, "output_index", KeyError)
    )
    # A bare Response object (as some servers send in `response.created`) is not enough.
    thin = _changed(created, "response", {"id": "resp_1", "object": "response"})
    assert not _valid(union, thin)
    # Events of hosted tools and reasoning need only their type and sequence number ...
    assert _valid(union, {"type": "response.reasoning_text.delta", "sequence_number": 3})
    # ... but a described type may not hide behind that leniency.
    assert not _valid(union, {"type": "response.output_text.delta", "sequence_number": 3})


def test_stored_items_and_token_counts() -> None:
    items = specs.response_validator("listResponseInputItems")
    page = {
        "object": "list",
        "data": [{"id": "msg_0", "type": "message", "role": "user", "content": "Hi"}],
        "has_more": False,
        "first_id": "msg_0",
        "last_id": "msg_0",
    }
    assert _valid(items, page)
    assert not _valid(items, _changed(page, "data.0.id", KeyError))
    counts = specs.response_validator("countResponseInputTokens")
    assert _valid(counts, {"object": "response.input_tokens", "input_tokens": 3})
    assert not _valid(counts, {"object": "response.input_tokens"})


def test_compaction_and_the_websocket_mode() -> None:
    request = specs.request_validator("compactResponse")
    assert _valid(request, {"model": "m", "input": "Hi", "prompt_cache_key": "k"})
    assert not _valid(request, {"input": "Hi"})  # model is required
    compacted = specs.response_validator("compactResponse")
    item = {"id": "cmp_1", "type": "compaction", "encrypted_content": "opaque"}
    user = {"id": "msg_0", "type": "message", "role": "user", "content": "Hi"}
    body = {
        "id": "resp_1",
        "object": "response.compaction",
        "created_at": 1,
        "output": [user, item],
        "usage": USAGE,
    }
    assert _valid(compacted, body)
    assert not _valid(compacted, _changed(body, "object", "response"))
    assert not _valid(compacted, _changed(body, "usage", KeyError))
    create = _validator("ResponseCreateMessage")
    assert _valid(create, {"type": "response.create", "model": "m", "input": "Hi"})
    assert not _valid(create, {"model": "m", "input": "Hi"})  # the event type is required
    error = _validator("ResponseWebSocketErrorEvent")
    envelope = {"type": "invalid_request_error", "code": "c", "message": "m", "param": None}
    assert _valid(error, {"type": "error", "status": 400, "error": envelope})
    assert not _valid(error, {"type": "error", "status": 400, "error": {**envelope, "code": None}})


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(specs.schema_for(name))
