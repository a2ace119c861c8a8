"""The official `openai` SDK's Responses client against the reference server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.reference_server._assertions import MODEL, sdk_client
from tests.reference_server._responses import ADD_TOOL, FORCE_ADD


@pytest.fixture(scope="module")
def sdk(base_url: str) -> Iterator[openai.OpenAI]:
    with sdk_client(base_url) as c:
        yield c


def test_create_retrieve_list_delete(sdk: openai.OpenAI) -> None:
    created = sdk.responses.create(model=MODEL, input="Hello", temperature=0, max_output_tokens=64)
    assert created.status == "completed" and created.output_text
    assert sdk.responses.retrieve(created.id).output_text == created.output_text
    items = list(sdk.responses.input_items.list(created.id))
    assert [item.type for item in items] == ["message"]
    assert sdk.responses.delete(created.id) is None  # the SDK casts the answer to None
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)


def test_stream_helper_accumulates_the_same_response(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model=MODEL, input="Hello", temperature=0) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert (
        final.output_text
        == sdk.responses.create(model=MODEL, input="Hello", temperature=0).output_text
    )


def test_function_call_round_trip(sdk: openai.OpenAI) -> None:
    first = sdk.responses.create(
        model=MODEL, input="Add 2 and 3.", tools=[ADD_TOOL], tool_choice=FORCE_ADD
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert isinstance(json.loads(call.arguments), dict)
    answer = sdk.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "5"}],
        tools=[ADD_TOOL],
        tool_choice="none",
        max_output_tokens=16,
    )
    assert answer.previous_response_id == first.id and answer.output[0].type == "message"


def test_hosted_tools_are_a_bad_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model=MODEL, input="Search", tools=[{"type": "web_search"}])
    assert caught.value.body["param"] == "tools[0].type"  # type: ignore[index]
