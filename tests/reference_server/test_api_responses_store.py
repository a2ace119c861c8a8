"""Stored responses: retrieve, delete, input items, previous_response_id, the bounded LRU store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inferno.launcher import reference_server_process
from tests.reference_server._assertions import MODEL, client, error_body, json_body
from tests.reference_server._responses import (
    ADD_TOOL,
    FORCE_ADD,
    OP,
    RESPONSES,
    create,
    function_calls,
    response_body,
    stream,
)


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def _get(http: httpx.Client, response_id: str) -> httpx.Response:
    return http.get(f"{RESPONSES}/{response_id}")


def _items(http: httpx.Client, response_id: str, **query: Any) -> dict[str, Any]:
    response = http.get(f"{RESPONSES}/{response_id}/input_items", params=query)
    return json_body(response, "listResponseInputItems")


def _count(http: httpx.Client, **body: Any) -> int:
    response = http.post(f"{RESPONSES}/input_tokens", json={"model": MODEL, **body})
    return json_body(response, "countResponseInputTokens")["input_tokens"]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_stored_response_is_retrieved_as_it_was_returned(
    http: httpx.Client, streamed: bool
) -> None:
    body = stream(http)[-1]["response"] if streamed else create(http)
    # Stored before the terminal event is sent: retrievable the moment the stream ends.
    assert json_body(_get(http, body["id"]), "getResponse") == body


def test_input_items_list_newest_first_with_pages(http: httpx.Client) -> None:
    conversation = [{"role": "user", "content": f"Message {n}"} for n in range(5)]
    body = create(http, input=conversation, max_output_tokens=16)
    page = _items(http, body["id"])
    texts = [item["content"][0]["text"] for item in page["data"]]
    assert texts == [f"Message {n}" for n in reversed(range(5))]
    assert all(item["id"] and item["type"] == "message" for item in page["data"])
    assert page["first_id"] == page["data"][0]["id"] and not page["has_more"]
    first = _items(http, body["id"], order="asc", limit=2)
    assert first["has_more"] and len(first["data"]) == 2
    rest = _items(http, body["id"], order="asc", limit=5, after=first["last_id"])
    seen = [item["content"][0]["text"] for item in first["data"] + rest["data"]]
    assert seen == [f"Message {n}" for n in range(5)] and not rest["has_more"]
    error_body(http.get(f"{RESPONSES}/{body['id']}/input_items?limit=0"), 400, param="limit")


def test_delete_then_everything_about_it_is_404(http: httpx.Client) -> None:
    body = create(http, max_output_tokens=16)
    deleted = http.delete(f"{RESPONSES}/{body['id']}")
    assert json_body(deleted, "deleteResponse") == {
        "id": body["id"],
        "object": "response.deleted",
        "deleted": True,
    }
    error_body(_get(http, body["id"]), 404, "getResponse", code="response_not_found")
    error_body(http.delete(f"{RESPONSES}/{body['id']}"), 404, "deleteResponse")
    error_body(http.get(f"{RESPONSES}/{body['id']}/input_items"), 404, "listResponseInputItems")
    again = http.post(RESPONSES, json=response_body(previous_response_id=body["id"]))
    error_body(again, 404, OP, param="previous_response_id")


def test_store_false_keeps_nothing(http: httpx.Client) -> None:
    body = create(http, store=False, max_output_tokens=16)
    assert body["store"] is False
    error_body(_get(http, body["id"]), 404, "getResponse")


def test_previous_response_id_continues_with_earlier_input_and_output(http: httpx.Client) -> None:
    first = create(http, input="My name is Ada.", instructions="Be brief.", max_output_tokens=16)
    second = create(http, previous_response_id=first["id"], input="What is my name?")
    assert second["previous_response_id"] == first["id"]
    # The same context sent explicitly (instructions are not carried over) counts the same.
    explicit = [
        {"role": "user", "content": "My name is Ada."},
        *first["output"],
        {"role": "user", "content": "What is my name?"},
    ]
    assert second["usage"]["input_tokens"] == _count(http, input=explicit)
    assert second["usage"]["input_tokens"] == _count(
        http, previous_response_id=first["id"], input="What is my name?"
    )
    # Only this request's input is listed for the continuation.
    (item,) = _items(http, second["id"])["data"]
    assert item["content"][0]["text"] == "What is my name?"


@pytest.mark.parametrize("stateless", [True, False], ids=["stateless", "previous_response_id"])
def test_function_call_output_round_trip(http: httpx.Client, stateless: bool) -> None:
    question = {"role": "user", "content": "Add 2 and 3."}
    first = create(http, input=[question], tools=[ADD_TOOL], tool_choice=FORCE_ADD)
    (call,) = function_calls(first)
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "5"}
    follow: dict[str, Any] = {"tools": [ADD_TOOL], "tool_choice": "none", "max_output_tokens": 16}
    if stateless:
        follow["input"] = [question, call, result]
    else:
        follow |= {"previous_response_id": first["id"], "input": [result]}
    answer = create(http, **follow)
    assert answer["output"][0]["type"] == "message" and not function_calls(answer)
    # Both forms put the question, the call and its output in the prompt.
    counts = {k: v for k, v in follow.items() if k != "max_output_tokens"}
    everything = {**counts, "input": [question, call, result]}
    everything.pop("previous_response_id", None)
    assert answer["usage"]["input_tokens"] == _count(http, **everything)
    assert answer["usage"]["input_tokens"] > _count(http, **{**everything, "input": [question]})
    items = _items(http, answer["id"], order="asc")["data"]
    assert items[-1]["type"] == "function_call_output" and items[-1]["call_id"] == call["call_id"]


def test_the_store_is_bounded_and_evicts_the_least_recently_used() -> None:
    with (
        reference_server_process(["--model", "tiny", "--responses-store", "2"]) as server,
        client(server.base_url) as http,
    ):
        one, two = (create(http, max_output_tokens=16, input=f"Hi {n}") for n in (1, 2))
        assert _get(http, one["id"]).status_code == 200  # one is now the most recently used
        three = create(http, max_output_tokens=16)
        assert _get(http, two["id"]).status_code == 404  # evicted
        assert (
            _get(http, one["id"]).status_code == 200 and _get(http, three["id"]).status_code == 200
        )
        continued = http.post(RESPONSES, json=response_body(previous_response_id=two["id"]))
        error_body(continued, 404, OP, code="previous_response_not_found")


def test_a_store_of_zero_keeps_nothing() -> None:
    with (
        reference_server_process(["--model", "tiny", "--responses-store", "0"]) as server,
        client(server.base_url) as http,
    ):
        body = create(http, max_output_tokens=16)
        assert body["store"] is True  # asked for, but this server keeps nothing
        error_body(_get(http, body["id"]), 404, "getResponse")
