"""Unit tests of what the `openresponses` profile adds: its stream framing, the item states, an
incomplete item last, the fields its schema overlay requires, and stacked profiles in the
suite's settings and rule coverage."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from _compliance_rule_of import rule_of

from compliance import _coverage, _openresponses, _responses, _schema
from compliance._failure import begin_soft, end_soft
from compliance._openresponses_rules import (
    DONE,
    EVENT_LINE,
    FIELDS,
    INCOMPLETE_LAST,
    ITEM_STATES,
)
from compliance._shared_rules import SCHEMA
from compliance._ws import ws_url
from inferno.sse import SSEEvent

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []}],
}
EMPTY_MESSAGE = {**MESSAGE, "content": []}
PART = {"type": "output_text", "text": "", "annotations": []}
TEXT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}


def _soft_rules(check: Callable[[], Any]) -> list[str]:
    begin_soft()
    try:
        check()
    finally:
        found = end_soft()
    return [failure.rule.id for failure in found]


def _stream() -> list[dict[str, Any]]:
    final = {"id": "resp_1", "status": "completed", "output": [MESSAGE]}
    return [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**MESSAGE, "content": []},
        },
        {"type": "response.content_part.added", **TEXT, "part": PART},
        {"type": "response.output_text.delta", **TEXT, "delta": "Hi"},
        {"type": "response.output_text.done", **TEXT, "text": "Hi"},
        {"type": "response.content_part.done", **TEXT, "part": {**PART, "text": "Hi"}},
        {"type": "response.output_item.done", "output_index": 0, "item": MESSAGE},
        {"type": "response.completed", "response": final},
    ]


def _framed(events: list[dict[str, Any]], *, names: bool = True, done: bool = True) -> list:
    raw = [SSEEvent(json.dumps(e), e["type"] if names else "message") for e in events]
    return raw + ([SSEEvent("[DONE]")] if done else [])


def test_a_stream_framed_as_open_responses_passes() -> None:
    events = _stream()
    assert _soft_rules(lambda: _openresponses.check_framing(_framed(events), None)) == []
    assert rule_of(lambda: _openresponses.check_items(events, None)) is None
    assert rule_of(lambda: _responses.check_order(events, None, "openresponses")) is None


def test_framing_needs_event_lines_and_a_closing_done() -> None:
    events = _stream()
    unnamed = _framed(events, names=False)
    assert set(_soft_rules(lambda: _openresponses.check_framing(unnamed, None))) == {EVENT_LINE.id}
    open_ended = _framed(events, done=False)
    assert _soft_rules(lambda: _openresponses.check_framing(open_ended, None)) == [DONE.id]


@pytest.mark.parametrize(
    "change",
    [
        "text done after part done",
        "item done before part done",
        "delta before part added",
        "event after item done",
        "no content part events",
    ],
)
def test_items_and_parts_keep_their_states(change: str) -> None:
    events = _stream()
    if change == "text done after part done":
        events[4], events[5] = events[5], events[4]
    elif change == "item done before part done":
        events[5], events[6] = events[6], events[5]
    elif change == "delta before part added":
        events[2], events[3] = events[3], events[2]
    elif change == "event after item done":
        events.insert(7, copy.deepcopy(events[3]))
    else:
        events = [e for e in events if not e["type"].startswith("response.content_part.")]
    assert rule_of(lambda: _openresponses.check_items(events, None)) == ITEM_STATES.id


def test_only_the_last_item_may_be_incomplete() -> None:
    cut = {**MESSAGE, "status": "incomplete"}
    call = {"id": "fc_1", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}
    check = _openresponses.check_response
    assert rule_of(lambda: check({"output": [{**call, "status": "completed"}, cut]}, None)) is None
    late = {"output": [{**call, "status": "incomplete"}, cut]}
    assert rule_of(lambda: check(late, None)) == INCOMPLETE_LAST.id
    # In a stream: an item added after one that ended incomplete.
    events = _stream()
    events[6] = {**events[6], "item": cut}
    second = {"type": "response.output_item.added", "output_index": 1, "item": MESSAGE}
    events.insert(7, second)
    assert rule_of(lambda: _openresponses.check_items(events, None)) == INCOMPLETE_LAST.id


RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "completed_at": 2,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "model": "m",
    "output": [MESSAGE],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "metadata": {},
    "store": True,
    "background": False,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_logprobs": 0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "truncation": "disabled",
    "reasoning": None,
    "service_tier": "default",
    "safety_identifier": None,
    "prompt_cache_key": None,
    "usage": None,
}


def _schema_rules(body: dict[str, Any], profile: str) -> list[tuple[str, str]]:
    validator = _schema.response("createResponse", 200, profile)
    found = _soft_rules(lambda: _schema.check(validator, body, SCHEMA, None, profile=profile))
    causes = [path for path, _, _ in _schema.violations(validator, body)]
    return list(zip(found, causes, strict=True))


@pytest.mark.parametrize("profile", ["openresponses", "openresponses,strict"])
def test_what_only_open_responses_requires_is_its_own_rule(profile: str) -> None:
    assert _schema_rules(RESPONSE, profile) == []
    thin = {k: v for k, v in RESPONSE.items() if k != "presence_penalty"}
    assert _schema_rules(thin, profile) == [(FIELDS.id, "$")]
    assert _schema_rules({**RESPONSE, "temperature": None}, profile) == [
        (FIELDS.id, "$.temperature")
    ]
    # What OpenAI's contract asks too stays OpenAI's rule, whatever the stack.
    assert _schema_rules({**RESPONSE, "tools": None}, profile) == [(SCHEMA.id, "$.tools")]
    # Under the openai profile both are fine: OpenAI documents the field as optional, nullable.
    assert _schema_rules(thin, "openai") == []
    assert _schema_rules({**RESPONSE, "temperature": None}, "openai") == []


def test_a_function_call_output_item_needs_its_id_and_status() -> None:
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    body = {**RESPONSE, "output": [call]}
    assert _schema_rules(body, "openai") == []
    assert [rule for rule, _ in _schema_rules(body, "openresponses")] == [FIELDS.id]


def test_rules_of_a_profile_not_run_say_which_profile() -> None:
    why = {u["rule"]: u["why"] for u in _coverage.unreached([], "strict")}
    assert why[FIELDS.id] == "openresponses profile only (--profile openresponses)"
    stacked = {u["rule"]: u["why"] for u in _coverage.unreached([], "openresponses,strict")}
    assert "profile only" not in stacked[FIELDS.id]
    assert "profile only" not in stacked["strict.error-param"]


def test_websocket_url_follows_the_base_url() -> None:
    assert ws_url("http://127.0.0.1:8000/v1") == "ws://127.0.0.1:8000/v1/responses"
    assert ws_url("https://api.example/v1/") == "wss://api.example/v1/responses"


def test_a_compacted_window_message_needs_its_id_and_status() -> None:
    kept = {"id": "msg_1", "type": "message", "role": "user", "content": "hi"}
    compaction = {"id": "cmp_1", "type": "compaction", "encrypted_content": "opaque"}
    usage = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }
    body = {
        "id": "resp_1",
        "object": "response.compaction",
        "created_at": 1,
        "output": [kept, compaction],
        "usage": usage,
    }

    def rules(instance: dict[str, Any], profile: str) -> list[str]:
        validator = _schema.response("compactResponse", 200, profile)
        return _soft_rules(
            lambda: _schema.check(validator, instance, SCHEMA, None, profile=profile)
        )

    assert rules(body, "openai") == []
    assert rules(body, "openresponses") == [FIELDS.id]
    assert (
        rules({**body, "output": [{**kept, "status": "completed"}, compaction]}, "openresponses")
        == []
    )
