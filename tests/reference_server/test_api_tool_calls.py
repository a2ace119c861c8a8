"""Chat tool calls as real clients meet them: `auto` may answer in text, a call cut by the token
limit is still a call, and streamed arguments arrive in fragments as they are generated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from tests.reference_server._assertions import (
    CHAT,
    chat_body,
    chat_stream_text,
    choice_chunks,
    client,
    finish_reasons,
    json_body,
    sse_chunks,
    tokens_starting_with,
)

OP = "createChatCompletion"
ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {"name": "add", "parameters": ADD}}]
FORCED = {"type": "function", "function": {"name": "add"}}


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def _bias(piece: str, value: int) -> dict[str, int]:
    """logit_bias for every token whose text starts with `piece`."""
    return {str(token): value for token in tokens_starting_with(piece)}


def _chat(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    return json_body(http.post(CHAT, json=chat_body(**overrides)), OP)


def _stream(http: httpx.Client, **overrides: Any) -> list[dict[str, Any]]:
    return sse_chunks(http.post(CHAT, json=chat_body(stream=True, **overrides)), OP)


def _streamed_calls(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for ch in choice_chunks(chunks) for c in ch["delta"].get("tool_calls") or []]


def test_auto_may_answer_in_text(http: httpx.Client) -> None:
    # The call branch of the grammar starts with `{`: banning it leaves text as the answer.
    body = _chat(http, tools=TOOLS, tool_choice="auto", max_tokens=12, logit_bias=_bias("{", -100))
    choice = body["choices"][0]
    assert choice["finish_reason"] in ("stop", "length")
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert not choice["message"].get("tool_calls")


def test_auto_may_call_a_tool(http: httpx.Client) -> None:
    body = _chat(http, tools=TOOLS, tool_choice="auto", max_tokens=60, logit_bias=_bias("{", 100))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    (call,) = choice["message"]["tool_calls"]
    jsonschema.validate(json.loads(call["function"]["arguments"]), ADD)


def test_auto_at_temperature_zero_gives_the_same_answer_streamed(http: httpx.Client) -> None:
    whole = _chat(http, tools=TOOLS, tool_choice="auto", max_tokens=16)
    chunks = _stream(http, tools=TOOLS, tool_choice="auto", max_tokens=16)
    message = whole["choices"][0]["message"]
    if message.get("tool_calls"):
        streamed = "".join(c["function"].get("arguments") or "" for c in _streamed_calls(chunks))
        assert streamed == message["tool_calls"][0]["function"]["arguments"]
    else:
        assert chat_stream_text(chunks)[0] == message["content"]
    assert finish_reasons(chunks) == {0: [whole["choices"][0]["finish_reason"]]}


@pytest.mark.parametrize("choice", ["required", FORCED], ids=["required", "named"])
def test_a_forced_call_cut_by_the_token_limit_is_still_a_tool_call(
    http: httpx.Client, choice: Any
) -> None:
    body = _chat(http, tools=TOOLS, tool_choice=choice, max_tokens=30)
    reply = body["choices"][0]
    assert reply["finish_reason"] == "length"
    assert reply["message"]["content"] is None
    (call,) = reply["message"]["tool_calls"]
    assert call["function"]["name"] == "add" and call["id"]
    arguments = call["function"]["arguments"]
    assert arguments.startswith("{")
    with pytest.raises(ValueError):
        json.loads(arguments)  # truncated, and said so by finish_reason "length"
    full = _chat(http, tools=TOOLS, tool_choice=choice, max_tokens=60)["choices"][0]
    assert full["message"]["tool_calls"][0]["function"]["arguments"].startswith(arguments)


def test_a_streamed_call_cut_by_the_token_limit_is_still_a_tool_call(http: httpx.Client) -> None:
    whole = _chat(http, tools=TOOLS, tool_choice=FORCED, max_tokens=30)
    chunks = _stream(http, tools=TOOLS, tool_choice=FORCED, max_tokens=30)
    assert finish_reasons(chunks) == {0: ["length"]}
    assert not chat_stream_text(chunks)[0], "a cut call leaked into content"
    arguments = "".join(c["function"].get("arguments") or "" for c in _streamed_calls(chunks))
    assert arguments == whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]


def test_streamed_arguments_arrive_in_fragments_as_generated(http: httpx.Client) -> None:
    chunks = _stream(http, tools=TOOLS, tool_choice=FORCED, max_tokens=60)
    calls = _streamed_calls(chunks)
    first, rest = calls[0], calls[1:]
    assert first["id"] and first["type"] == "function"
    assert first["function"] == {"name": "add", "arguments": ""}
    fragments = [c["function"]["arguments"] for c in rest]
    assert all("id" not in c and c["index"] == 0 for c in rest)
    assert len(fragments) >= 4, fragments  # one per generated token, not one at the end
    jsonschema.validate(json.loads("".join(fragments)), ADD)
    assert finish_reasons(chunks) == {0: ["tool_calls"]}
    # Each fragment is its own chunk, sent before the finish chunk.
    finish_at = next(i for i, c in enumerate(chunks) if c["choices"][0]["finish_reason"])
    assert finish_at == len(chunks) - 1
