"""POST /v1/responses: response objects, the event stream, tool calls, formats and refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from tests.reference_server._assertions import client, error_body, json_body
from tests.reference_server._faulty_server import faulty_server
from tests.reference_server._responses import (
    ADD,
    ADD_TOOL,
    FORCE_ADD,
    OP,
    RESPONSES,
    create,
    function_calls,
    joined,
    kinds,
    output_text,
    response_body,
    stream,
)

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta*",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]
CALL_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.function_call_arguments.delta*",
    "response.function_call_arguments.done",
    "response.output_item.done",
]


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def test_a_response_echoes_the_request_and_counts_tokens(http: httpx.Client) -> None:
    metadata = {"purpose": "test"}
    body = create(http, instructions="Be brief.", metadata=metadata, max_output_tokens=64)
    assert body["id"].startswith("resp_") and body["object"] == "response"
    assert body["instructions"] == "Be brief." and body["metadata"] == metadata
    assert body["max_output_tokens"] == 64 and body["model"] == "inferno-tiny"
    assert body["tools"] == [] and body["tool_choice"] == "auto" and body["store"] is True
    (message,) = body["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["status"] == body["status"] and message["id"].startswith("msg_")
    assert output_text(body)
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    counted = http.post(f"{RESPONSES}/input_tokens", json=response_body(instructions="Be brief."))
    assert json_body(counted, "countResponseInputTokens")["input_tokens"] == usage["input_tokens"]
    plain = create(http, max_output_tokens=64)
    assert plain["status"] == "completed" and plain["completed_at"] >= plain["created_at"]
    assert plain["usage"]["input_tokens"] < usage["input_tokens"]  # instructions reach the prompt
    assert output_text(plain) == output_text(create(http, max_output_tokens=64))


def test_max_output_tokens_makes_an_incomplete_response(http: httpx.Client) -> None:
    body = create(http, max_output_tokens=16)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["completed_at"] is None
    assert body["usage"]["output_tokens"] == 16
    assert body["output"][0]["status"] == "incomplete"
    assert output_text(create(http, max_output_tokens=64)).startswith(output_text(body))


def test_the_stream_follows_openais_event_order(http: httpx.Client) -> None:
    events = stream(http, max_output_tokens=64)
    assert kinds(events) == [*TEXT_EVENTS, "response.completed"]
    created, final = events[0]["response"], events[-1]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert created["id"] == final["id"] and created["usage"] is None
    item_id = events[2]["item"]["id"]
    assert all(e.get("item_id", item_id) == item_id for e in events)
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert joined(events, "response.output_text.delta") == done["text"] == output_text(final)
    assert events[-2]["item"] == final["output"][0]


def test_stream_equals_non_stream_at_temperature_zero(http: httpx.Client) -> None:
    for limit in (16, 64):
        whole = create(http, max_output_tokens=limit)
        final = stream(http, max_output_tokens=limit)[-1]["response"]
        assert output_text(final) == output_text(whole)
        assert final["status"] == whole["status"] and final["usage"] == whole["usage"]


def test_a_streamed_incomplete_response_ends_with_response_incomplete(http: httpx.Client) -> None:
    events = stream(http, max_output_tokens=16)
    assert kinds(events) == [*TEXT_EVENTS, "response.incomplete"]
    final = events[-1]["response"]
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-2]["item"]["status"] == "incomplete"


def test_a_forced_function_call(http: httpx.Client) -> None:
    body = create(http, tools=[ADD_TOOL], tool_choice=FORCE_ADD)
    assert body["status"] == "completed"
    (call,) = function_calls(body)
    assert call["name"] == "add" and call["status"] == "completed"
    assert call["call_id"].startswith("call_") and call["id"].startswith("fc_")
    jsonschema.validate(json.loads(call["arguments"]), ADD)
    assert body["tools"] == [{**ADD_TOOL, "strict": True}]


@pytest.fixture(scope="module")
def paced() -> Iterator[httpx.Client]:
    """A server whose every token takes 20 ms: its reader is never so far behind that the
    arguments' tokens reach it as one merged delta (a busy machine would otherwise merge them)."""
    with faulty_server([], token_delay=0.02) as server, client(server.base_url) as c:
        yield c


def test_a_streamed_function_call_sends_argument_fragments(paced: httpx.Client) -> None:
    events = stream(paced, tools=[ADD_TOOL], tool_choice="required", temperature=0)
    assert kinds(events) == [*CALL_EVENTS, "response.completed"]
    added = events[2]["item"]
    assert added["type"] == "function_call" and added["arguments"] == ""
    fragments = [e["delta"] for e in events if e["type"].endswith("arguments.delta")]
    assert len(fragments) >= 2, fragments
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert "".join(fragments) == done["arguments"] and done["name"] == "add"
    final_call = function_calls(events[-1]["response"])[0]
    assert (
        final_call["arguments"] == done["arguments"] and final_call["call_id"] == added["call_id"]
    )


@pytest.mark.parametrize("streamed", [False, True])
def test_a_call_cut_by_max_output_tokens_is_an_incomplete_call(
    http: httpx.Client, streamed: bool
) -> None:
    options: dict[str, Any] = {
        "tools": [ADD_TOOL],
        "tool_choice": FORCE_ADD,
        "max_output_tokens": 30,
    }
    body = stream(http, **options)[-1]["response"] if streamed else create(http, **options)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    (call,) = function_calls(body)
    assert call["status"] == "incomplete" and call["arguments"].startswith("{")
    assert not output_text(body)
    full = function_calls(create(http, tools=[ADD_TOOL], tool_choice=FORCE_ADD))[0]
    assert full["arguments"].startswith(call["arguments"])


def test_auto_lets_the_model_answer_in_text(http: httpx.Client) -> None:
    # The tiny model's greedy answer starts with a space: under `auto` that is a text answer
    # (the grammar's call branch starts with `{`; the chat tests force both branches).
    body = create(http, tools=[ADD_TOOL], max_output_tokens=32)
    assert body["tool_choice"] == "auto"
    assert not function_calls(body) and output_text(body)
    streamed = stream(http, tools=[ADD_TOOL], max_output_tokens=32)[-1]["response"]
    assert output_text(streamed) == output_text(body)


def test_chat_sampling_extras_do_not_reach_a_response(http: httpx.Client) -> None:
    plain = create(http, max_output_tokens=32)
    extras = {"stop": 5, "logit_bias": "x", "seed": "y"}
    assert output_text(create(http, max_output_tokens=32, **extras)) == output_text(plain)


def test_penalties_are_response_fields(http: httpx.Client) -> None:
    # Open Responses defines the penalties for the Responses API too: echoed, 0 by default.
    plain = create(http, max_output_tokens=16)
    assert plain["presence_penalty"] == plain["frequency_penalty"] == 0
    assert create(http, max_output_tokens=16, presence_penalty=1.5)["presence_penalty"] == 1.5
    bad = http.post(RESPONSES, json=response_body(presence_penalty="z"))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "presence_penalty"


def test_text_format_json_schema_output_parses(http: httpx.Client) -> None:
    fmt = {"type": "json_schema", "name": "sum", "schema": ADD, "strict": True}
    body = create(http, text={"format": fmt}, max_output_tokens=64)
    assert body["status"] == "completed" and body["text"]["format"] == fmt
    jsonschema.validate(json.loads(output_text(body)), ADD)


def test_logprobs_when_included(http: httpx.Client) -> None:
    body = create(http, include=["message.output_text.logprobs"], top_logprobs=2)
    part = body["output"][0]["content"][0]
    assert len(part["logprobs"]) == body["usage"]["output_tokens"]
    assert "".join(lp["token"] for lp in part["logprobs"]) == part["text"]
    assert all(len(lp["top_logprobs"]) == 2 for lp in part["logprobs"])
    events = stream(http, include=["message.output_text.logprobs"], top_logprobs=2)
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert sum(len(e["logprobs"]) for e in deltas) == len(part["logprobs"])
    assert create(http)["output"][0]["content"][0]["logprobs"] == []


@pytest.mark.parametrize(
    "field,param",
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [ADD_TOOL, {"type": "file_search", "vector_store_ids": []}]}, "tools[1].type"),
        ({"tool_choice": {"type": "code_interpreter"}}, "tool_choice.type"),
        (
            {"tools": [ADD_TOOL], "tool_choice": {"type": "function", "name": "x"}},
            "tool_choice.name",
        ),
        (
            {
                "tools": [ADD_TOOL],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []},
            },
            "tool_choice.tools",
        ),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"reasoning": {"effort": "high"}}, "reasoning.effort"),
        ({"truncation": "auto"}, "truncation"),
        ({"include": ["file_search_call.results"]}, "include[0]"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input[0].content[0].type",
        ),
        ({"max_output_tokens": 15}, "max_output_tokens"),
        ({"temperature": 3}, "temperature"),
        (
            {"input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]},
            "input[0].call_id",
        ),
    ],
)
def test_what_a_local_model_cannot_honour_is_a_400_naming_the_param(
    http: httpx.Client, field: dict[str, Any], param: str
) -> None:
    response = http.post(RESPONSES, json=response_body(**field))
    error_body(response, 400, OP, param=param)


def test_unknown_model_and_unknown_previous_response_are_404(http: httpx.Client) -> None:
    error_body(
        http.post(RESPONSES, json=response_body(model="no-such-model")),
        404,
        OP,
        code="model_not_found",
    )
    response = http.post(RESPONSES, json=response_body(previous_response_id="resp_nothing"))
    error_body(response, 404, OP, param="previous_response_id", code="previous_response_not_found")
