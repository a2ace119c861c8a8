"""Streamed chat and completions: SSE framing, chunk order, usage, equality with non-stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    chat_body,
    chat_stream_text,
    choice_chunks,
    client,
    completion_body,
    completion_stream_text,
    finish_reasons,
    json_body,
    sse_chunks,
    stop_across_tokens,
    tokenize,
)

CHAT_OP = "createChatCompletion"
COMPLETION_OP = "createCompletion"
USAGE = {"include_usage": True}
PROMPTS = ["Hello", "héllo 世界 🙂", "Tell me a story about the sea"]


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def stream_chat(http: httpx.Client, **overrides: Any) -> list[dict[str, Any]]:
    response = http.post(CHAT, json=chat_body(stream=True, **overrides))
    return sse_chunks(response, CHAT_OP)


def stream_completion(http: httpx.Client, **overrides: Any) -> list[dict[str, Any]]:
    response = http.post(COMPLETIONS, json=completion_body(stream=True, **overrides))
    return sse_chunks(response, COMPLETION_OP)


def test_chat_stream_has_the_documented_chunk_order(http: httpx.Client) -> None:
    chunks = stream_chat(http, max_tokens=10, stream_options=USAGE)
    assert len({c["id"] for c in chunks}) == 1, "the id changes within one stream"
    assert len({c["created"] for c in chunks}) == 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"inferno-tiny"}
    first = chunks[0]["choices"][0]
    assert first["delta"].get("role") == "assistant"
    assert first["finish_reason"] is None
    body_chunks, usage_chunk = chunks[:-1], chunks[-1]
    assert usage_chunk["choices"] == []
    assert all(c["choices"] for c in body_chunks), "only the usage chunk may have no choices"
    assert all(c.get("usage") is None for c in body_chunks)
    roles = [ch["delta"]["role"] for ch in choice_chunks(body_chunks) if "role" in ch["delta"]]
    assert roles == ["assistant"], "role is sent once, in the first chunk"
    assert finish_reasons(chunks) == {0: ["length"]}
    last_choice = body_chunks[-1]["choices"][0]
    assert last_choice["finish_reason"] == "length", "nothing follows the finish chunk"
    # How many deltas carry the text is not part of the order: a busy machine's reader lets
    # the server join tokens into one event (flow control, test_flow_control.py).
    assert any(ch["delta"].get("content") for ch in choice_chunks(body_chunks))
    assert usage_chunk["usage"]["completion_tokens"] == 10


def test_chat_stream_without_include_usage_has_no_usage_chunk(http: httpx.Client) -> None:
    for options in ({}, {"stream_options": {"include_usage": False}}):
        chunks = stream_chat(http, max_tokens=4, **options)
        assert all(c["choices"] for c in chunks)
        assert all(c.get("usage") is None for c in chunks)
        assert finish_reasons(chunks) == {0: ["length"]}


@pytest.mark.parametrize("prompt", PROMPTS)
def test_chat_stream_text_equals_non_stream_text(http: httpx.Client, prompt: str) -> None:
    messages = [{"role": "user", "content": prompt}]
    whole = json_body(http.post(CHAT, json=chat_body(messages=messages, max_tokens=40)), CHAT_OP)
    chunks = stream_chat(http, messages=messages, max_tokens=40, stream_options=USAGE)
    assert chat_stream_text(chunks) == {0: whole["choices"][0]["message"]["content"]}
    assert finish_reasons(chunks) == {0: [whole["choices"][0]["finish_reason"]]}
    assert same_usage(chunks[-1]["usage"], whole["usage"], whole["usage"]["prompt_tokens"])


def test_chat_stream_with_n_finishes_every_choice_once(http: httpx.Client) -> None:
    sampled = {"n": 3, "temperature": 1.0, "seed": 9, "max_tokens": 6}
    whole = json_body(http.post(CHAT, json=chat_body(**sampled)), CHAT_OP)
    chunks = stream_chat(http, stream_options=USAGE, **sampled)
    firsts: dict[int, dict[str, Any]] = {}
    for choice in choice_chunks(chunks):
        firsts.setdefault(choice["index"], choice)
    assert sorted(firsts) == [0, 1, 2]
    assert all(first["delta"].get("role") == "assistant" for first in firsts.values())
    assert finish_reasons(chunks) == {i: ["length"] for i in range(3)}
    expected = {c["index"]: c["message"]["content"] for c in whole["choices"]}
    assert chat_stream_text(chunks) == expected
    assert chunks[-1]["usage"]["completion_tokens"] == 18


def test_stop_string_never_reaches_the_stream(http: httpx.Client) -> None:
    free = json_body(
        http.post(CHAT, json=chat_body(max_tokens=16, logprobs=True, top_logprobs=0)), CHAT_OP
    )
    text, stop = stop_across_tokens(free)
    chunks = stream_chat(http, max_tokens=16, stop=[stop])
    streamed = chat_stream_text(chunks)[0]
    assert streamed == text[: text.index(stop)]
    assert finish_reasons(chunks) == {0: ["stop"]}
    for choice in choice_chunks(chunks):
        assert stop not in (choice["delta"].get("content") or "")


def test_chat_stream_logprobs_cover_every_token(http: httpx.Client) -> None:
    chunks = stream_chat(http, max_tokens=6, logprobs=True, top_logprobs=2, stream_options=USAGE)
    entries = [
        entry
        for choice in choice_chunks(chunks)
        if choice.get("logprobs")
        for entry in choice["logprobs"]["content"]
    ]
    assert len(entries) == chunks[-1]["usage"]["completion_tokens"] == 6
    assert all(len(e["top_logprobs"]) == 2 and e["logprob"] <= 0 for e in entries)
    assert "".join(e["token"] for e in entries) == chat_stream_text(chunks)[0]


def test_streamed_json_schema_output_parses(http: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    chunks = stream_chat(http, max_tokens=40, response_format=fmt)
    assert finish_reasons(chunks) == {0: ["stop"]}
    value = json.loads(chat_stream_text(chunks)[0])
    assert isinstance(value["a"], int) and set(value) == {"a"}


def test_streamed_tool_call_arrives_as_a_tool_calls_delta(http: httpx.Client) -> None:
    params = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    tools = [{"type": "function", "function": {"name": "square", "parameters": params}}]
    chunks = stream_chat(http, max_tokens=40, tools=tools, tool_choice="required")
    assert finish_reasons(chunks) == {0: ["tool_calls"]}
    calls = [c for ch in choice_chunks(chunks) for c in ch["delta"].get("tool_calls") or []]
    assert calls, "no tool_calls delta"
    assert calls[0]["id"] and calls[0]["type"] == "function"
    name = "".join(c.get("function", {}).get("name") or "" for c in calls)
    arguments = "".join(c.get("function", {}).get("arguments") or "" for c in calls)
    assert name == "square"
    assert isinstance(json.loads(arguments)["x"], int)
    assert not chat_stream_text(chunks)[0], "tool-call JSON leaked into content"


@pytest.mark.parametrize("prompt", ["Hello", ["Hello", "The sea"]], ids=["one", "two"])
def test_completion_stream_text_equals_non_stream_text(http: httpx.Client, prompt: Any) -> None:
    whole = json_body(
        http.post(COMPLETIONS, json=completion_body(prompt=prompt, max_tokens=20)), COMPLETION_OP
    )
    chunks = stream_completion(http, prompt=prompt, max_tokens=20, stream_options=USAGE)
    assert len({c["id"] for c in chunks}) == 1
    expected = {c["index"]: c["text"] for c in whole["choices"]}
    assert completion_stream_text(chunks) == expected
    assert finish_reasons(chunks) == {c["index"]: [c["finish_reason"]] for c in whole["choices"]}
    prompts = [prompt] if isinstance(prompt, str) else prompt
    cached = sum(len(tokenize(p)) for p in prompts)
    assert chunks[-1]["choices"] == [] and same_usage(chunks[-1]["usage"], whole["usage"], cached)
    assert all(c["choices"] for c in chunks[:-1])


def test_completion_stream_without_include_usage_has_no_usage_chunk(http: httpx.Client) -> None:
    chunks = stream_completion(http, max_tokens=4)
    assert all(c["choices"] and c.get("usage") is None for c in chunks)
    assert finish_reasons(chunks) == {0: ["length"]}


def test_completion_stream_echo_starts_with_the_prompt(http: httpx.Client) -> None:
    whole = json_body(
        http.post(COMPLETIONS, json=completion_body(echo=True, max_tokens=6)), COMPLETION_OP
    )
    chunks = stream_completion(http, echo=True, max_tokens=6)
    streamed = completion_stream_text(chunks)[0]
    assert streamed.startswith("Hello")
    assert streamed == whole["choices"][0]["text"]


def same_usage(repeated: dict, first: dict, cached: int) -> bool:
    """Equal token counts; the repeated request found the first one's prompts whole in the
    cache (`cached`: every token; each starts from the logits kept for its last token), or
    where another sequence served it, what the first request found cached."""
    details = repeated.pop("prompt_tokens_details")
    first_cached = first.pop("prompt_tokens_details")["cached_tokens"]
    assert details["cached_tokens"] in (cached, first_cached), (details, repeated)
    return repeated == first
