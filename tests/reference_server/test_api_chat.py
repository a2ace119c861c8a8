"""POST /v1/chat/completions (non-streamed): messages, every sampling parameter, formats, tools."""

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
    client,
    error_body,
    json_body,
    stop_across_tokens,
    token_id,
)

OP = "createChatCompletion"
OBJECT_A = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}
COLOUR = {
    "type": "object",
    "properties": {"colour": {"enum": ["red", "green", "blue"]}, "ok": {"type": "boolean"}},
    "required": ["colour", "ok"],
    "additionalProperties": False,
}
ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
NOOP = {"type": "object", "properties": {}, "additionalProperties": False}
TOOLS = [
    {"type": "function", "function": {"name": "noop", "parameters": NOOP}},
    {"type": "function", "function": {"name": "add", "description": "a + b", "parameters": ADD}},
]
TOOL_SCHEMAS = {"noop": NOOP, "add": ADD}


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def chat(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    return json_body(http.post(CHAT, json=chat_body(**overrides)), OP)


def content(body: dict[str, Any], index: int = 0) -> str:
    return body["choices"][index]["message"]["content"]


def test_reply_is_an_assistant_message_with_exact_usage(http: httpx.Client) -> None:
    body = chat(http, max_tokens=6, logprobs=True, top_logprobs=0)
    assert body["object"] == "chat.completion"
    assert body["id"]
    assert body["model"] == "inferno-tiny"
    (choice,) = body["choices"]
    assert choice["index"] == 0
    message = choice["message"]
    assert message["role"] == "assistant"
    assert isinstance(message["content"], str) and message["content"]
    assert message["refusal"] is None
    assert "tool_calls" not in message or not message["tool_calls"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] > 1
    # One logprob entry per generated token: the token count is exact.
    assert usage["completion_tokens"] == len(choice["logprobs"]["content"])


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_gives_length_with_exactly_that_many_tokens(
    http: httpx.Client, field: str
) -> None:
    body = chat_body(logprobs=True, top_logprobs=0)
    del body["max_tokens"]
    body[field] = 7
    reply = json_body(http.post(CHAT, json=body), OP)
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 7
    assert len(choice["logprobs"]["content"]) == 7


def test_temperature_zero_is_deterministic_and_greedy(http: httpx.Client) -> None:
    first = chat(http, max_tokens=12, logprobs=True, top_logprobs=1)
    second = chat(http, max_tokens=12, logprobs=True, top_logprobs=1)
    assert content(first) == content(second)
    for entry in first["choices"][0]["logprobs"]["content"]:
        assert entry["token"] == entry["top_logprobs"][0]["token"], entry


def test_same_seed_same_text_and_seeds_matter(http: httpx.Client) -> None:
    sampled = {"temperature": 1.0, "max_tokens": 10}
    runs = [content(chat(http, seed=seed, **sampled)) for seed in (11, 11, 12, 13, 14)]
    assert runs[0] == runs[1]
    assert len(set(runs)) >= 3, runs  # at temperature 1 the seed must change the sample


def test_tiny_top_p_keeps_only_the_most_likely_token(http: httpx.Client) -> None:
    greedy = content(chat(http, max_tokens=10))
    for seed in (1, 2, 3):
        assert content(chat(http, max_tokens=10, temperature=1.5, top_p=0.01, seed=seed)) == (
            greedy
        )


@pytest.mark.parametrize(
    "penalty",
    [{"frequency_penalty": 2.0}, {"presence_penalty": 2.0}, {"presence_penalty": -2.0}],
)
def test_penalties_change_greedy_output(http: httpx.Client, penalty: dict[str, float]) -> None:
    plain = content(chat(http, max_tokens=80))
    assert content(chat(http, max_tokens=80, **penalty)) != plain


def test_penalties_at_zero_change_nothing(http: httpx.Client) -> None:
    plain = content(chat(http, max_tokens=20))
    neutral = chat(http, max_tokens=20, frequency_penalty=0.0, presence_penalty=0.0)
    assert content(neutral) == plain


@pytest.mark.parametrize("as_list", [False, True])
def test_stop_string_cuts_before_it_and_is_never_emitted(http: httpx.Client, as_list: bool) -> None:
    text, stop = stop_across_tokens(chat(http, max_tokens=16, logprobs=True, top_logprobs=0))
    stops = ["no such text 1", stop, "no such text 2", "\u2603"] if as_list else stop
    body = chat(http, max_tokens=16, stop=stops)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert content(body) == text[: text.index(stop)]
    assert stop not in content(body)


def test_n_gives_indexed_distinct_choices(http: httpx.Client) -> None:
    body = chat(http, n=3, temperature=1.0, seed=5, max_tokens=6)
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert all(c["finish_reason"] == "length" for c in choices)
    assert body["usage"]["completion_tokens"] == 18
    assert len({c["message"]["content"] for c in choices}) >= 2


def test_n_reaches_its_upper_bound(http: httpx.Client) -> None:
    body = chat(http, n=128, temperature=1.0, seed=1, max_tokens=1)
    assert [c["index"] for c in body["choices"]] == list(range(128))
    assert body["usage"]["completion_tokens"] == 128


def test_logit_bias_bans_a_token(http: httpx.Client) -> None:
    free = chat(http, max_tokens=1, logprobs=True, top_logprobs=0)
    first = free["choices"][0]["logprobs"]["content"][0]["token"]
    banned = chat(http, max_tokens=1, logit_bias={str(token_id(first)): -100})
    assert content(banned) != first


def test_logprobs_have_the_chat_shape(http: httpx.Client) -> None:
    body = chat(http, max_tokens=5, logprobs=True, top_logprobs=3)
    logprobs = body["choices"][0]["logprobs"]
    entries = logprobs["content"]
    assert len(entries) == body["usage"]["completion_tokens"] == 5
    assert "".join(e["token"] for e in entries) == content(body)
    for entry in entries:
        assert entry["logprob"] <= 0
        assert len(entry["top_logprobs"]) == 3
        tops = [t["logprob"] for t in entry["top_logprobs"]]
        assert tops == sorted(tops, reverse=True)
        assert all(t <= 0 for t in tops)
        assert entry["logprob"] == pytest.approx(tops[0])  # greedy picks the top token
        assert bytes(entry["bytes"]).decode("utf-8") == entry["token"]


def test_logprobs_off_means_null(http: httpx.Client) -> None:
    assert chat(http, max_tokens=3)["choices"][0]["logprobs"] is None
    bare = chat(http, max_tokens=3, logprobs=True, top_logprobs=0)
    assert all(e["top_logprobs"] == [] for e in bare["choices"][0]["logprobs"]["content"])


def test_top_logprobs_without_logprobs_is_rejected(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body(top_logprobs=2))
    error_body(response, 400, OP, param="top_logprobs")


def test_json_object_output_parses_when_it_stops(http: httpx.Client) -> None:
    finished = []
    for seed in range(6):
        body = chat(
            http,
            temperature=1.0,
            seed=seed,
            max_tokens=40,
            response_format={"type": "json_object"},
        )
        text = content(body)
        assert text.lstrip().startswith("{"), text
        if body["choices"][0]["finish_reason"] == "stop":
            finished.append(json.loads(text))
    assert finished, "no json_object reply finished within 40 tokens"
    assert all(isinstance(value, dict) for value in finished)


@pytest.mark.parametrize("schema", [OBJECT_A, COLOUR], ids=["integer", "enum"])
def test_json_schema_output_parses_and_matches(http: httpx.Client, schema: dict) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    for sampling in ({"temperature": 0}, {"temperature": 1.0, "seed": 3}):
        body = chat(http, max_tokens=40, response_format=response_format, **sampling)
        assert body["choices"][0]["finish_reason"] == "stop", body
        jsonschema.validate(json.loads(content(body)), schema)


def _tool_call(body: dict[str, Any]) -> dict[str, Any]:
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    message = choice["message"]
    assert message["content"] is None
    (call,) = message["tool_calls"]
    assert isinstance(call["id"], str) and call["id"]
    assert call["type"] == "function"
    assert isinstance(call["function"]["arguments"], str)
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, TOOL_SCHEMAS[call["function"]["name"]])
    return call


def test_tool_choice_required_calls_a_listed_tool(http: httpx.Client) -> None:
    call = _tool_call(chat(http, max_tokens=60, tools=TOOLS, tool_choice="required"))
    assert call["function"]["name"] in TOOL_SCHEMAS


@pytest.mark.parametrize("name", ["add", "noop"])
def test_named_tool_choice_calls_that_tool(http: httpx.Client, name: str) -> None:
    choice = {"type": "function", "function": {"name": name}}
    call = _tool_call(chat(http, max_tokens=60, tools=TOOLS, tool_choice=choice))
    assert call["function"]["name"] == name


def test_tool_call_ids_are_unique(http: httpx.Client) -> None:
    choice = {"type": "function", "function": {"name": "noop"}}
    ids = {
        _tool_call(chat(http, max_tokens=30, tools=TOOLS, tool_choice=choice))["id"]
        for _ in range(2)
    }
    assert len(ids) == 2


def test_tool_choice_none_answers_with_text(http: httpx.Client) -> None:
    body = chat(http, max_tokens=5, tools=TOOLS, tool_choice="none")
    choice = body["choices"][0]
    assert choice["finish_reason"] in ("stop", "length")
    assert isinstance(choice["message"]["content"], str)
    assert not choice["message"].get("tool_calls")


def test_unknown_named_tool_is_rejected(http: httpx.Client) -> None:
    choice = {"type": "function", "function": {"name": "missing"}}
    response = http.post(CHAT, json=chat_body(tools=TOOLS, tool_choice=choice))
    error_body(response, 400, OP, param="tool_choice")


def test_content_as_text_parts_equals_the_joined_string(http: httpx.Client) -> None:
    parts = [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]
    as_parts = chat(http, messages=[{"role": "user", "content": parts}])
    as_string = chat(http, messages=[{"role": "user", "content": "Hello"}])
    assert content(as_parts) == content(as_string)
    assert as_parts["usage"]["prompt_tokens"] == as_string["usage"]["prompt_tokens"]


def test_every_role_is_accepted_and_reaches_the_prompt(http: httpx.Client) -> None:
    call = {
        "id": "call-1",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
    }
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "What is 1 + 2?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call-1", "content": "3"},
        {"role": "assistant", "content": "It is 3."},
        {"role": "user", "content": "Thanks"},
    ]
    full = chat(http, messages=conversation, max_tokens=4)
    assert full["choices"][0]["message"]["role"] == "assistant"
    previous = full["usage"]["prompt_tokens"]
    # Dropping any one message must shorten the prompt: each role is rendered, none ignored.
    for index in range(len(conversation) - 1):
        shorter = conversation[:index] + conversation[index + 1 :]
        body = chat(http, messages=shorter, max_tokens=1)
        assert body["usage"]["prompt_tokens"] < previous, conversation[index]["role"]
