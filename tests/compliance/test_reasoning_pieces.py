"""Unit tests of the checks every answer gets: reasoning in its place and shape, usage parts within
their totals, and the Responses event order."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from _compliance_rule_of import rule_of

from compliance import _reasoning, _responses
from compliance._reasoning import CHAT_REASONING, RESPONSES_REASONING
from compliance._responses_rules import STREAM_ORDER
from compliance._responses_rules import USAGE as RESPONSES_USAGE
from compliance._shared_rules import USAGE


def _chunk(delta: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": None}]}


def test_chat_reasoning_before_content_passes_and_after_it_fails() -> None:
    thought, said = _chunk({"reasoning_content": "hmm"}), _chunk({"content": "Hi"})
    opening = _chunk({"role": "assistant", "content": ""})
    assert rule_of(lambda: _reasoning.check_chat_stream([opening, thought, said], None)) is None
    late = [opening, said, thought]
    assert rule_of(lambda: _reasoning.check_chat_stream(late, None)) == CHAT_REASONING.id
    # Each choice has its own order: another choice's content does not make a thought late.
    other = [_chunk({"content": "Hi"}, index=1), _chunk({"reasoning": "hmm"}, index=0)]
    assert rule_of(lambda: _reasoning.check_chat_stream(other, None)) is None
    bad = [_chunk({"reasoning_content": {"text": "hmm"}})]
    assert rule_of(lambda: _reasoning.check_chat_stream(bad, None)) == CHAT_REASONING.id


def test_chat_usage_parts_stay_within_their_totals() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    check = _reasoning.check_chat_usage
    assert rule_of(lambda: check(usage, None, CHAT_REASONING)) is None
    thinking = {**usage, "completion_tokens_details": {"reasoning_tokens": 4}}
    assert rule_of(lambda: check(thinking, None, CHAT_REASONING)) is None
    over = {**usage, "completion_tokens_details": {"reasoning_tokens": 5}}
    assert rule_of(lambda: check(over, None, CHAT_REASONING)) == CHAT_REASONING.id
    assert rule_of(lambda: check(over, None, USAGE)) == USAGE.id
    cached = {**usage, "prompt_tokens_details": {"cached_tokens": 6}}
    assert rule_of(lambda: check(cached, None, CHAT_REASONING)) == USAGE.id


REASONING_ITEM = {"type": "reasoning", "id": "rs_1", "summary": [], "status": "completed"}
MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
}
USAGE_BODY = {
    "input_tokens": 5,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 4,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 9,
}


def _response(output: list[dict[str, Any]], **usage: Any) -> dict[str, Any]:
    body = copy.deepcopy(USAGE_BODY)
    for key, value in usage.items():
        body[key] = value
    return {"object": "response", "output": copy.deepcopy(output), "usage": body}


def test_responses_reasoning_item_leads_and_keeps_its_shape() -> None:
    check = _reasoning.check_response
    assert rule_of(lambda: check(_response([REASONING_ITEM, MESSAGE]), None)) is None
    after = _response([MESSAGE, REASONING_ITEM])
    assert rule_of(lambda: check(after, None)) == RESPONSES_REASONING.id
    summary_text = {**REASONING_ITEM, "summary": [{"type": "summary_text", "text": "hm"}]}
    assert rule_of(lambda: check(_response([summary_text, MESSAGE]), None)) is None
    for broken in (
        {**REASONING_ITEM, "summary": "hm"},
        {**REASONING_ITEM, "summary": [{"type": "output_text", "text": "hm"}]},
        {**REASONING_ITEM, "content": [{"type": "reasoning_text", "text": None}]},
        {k: v for k, v in REASONING_ITEM.items() if k != "id"},
    ):
        got = rule_of(lambda: check(_response([broken, MESSAGE]), None))  # noqa: B023
        assert got == RESPONSES_REASONING.id, broken


def test_responses_usage_parts_stay_within_their_totals() -> None:
    check = _reasoning.check_response
    over = _response([MESSAGE], output_tokens_details={"reasoning_tokens": 5})
    assert rule_of(lambda: check(over, None)) == RESPONSES_REASONING.id
    cached = _response([MESSAGE], input_tokens_details={"cached_tokens": 6})
    assert rule_of(lambda: check(cached, None)) == RESPONSES_USAGE.id


def _stream(with_reasoning: bool = False) -> list[dict[str, Any]]:
    message = {**MESSAGE, "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    final = {"id": "resp_1", "status": "completed", "output": [MESSAGE]}
    text = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.in_progress", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0, "item": message},
        {"type": "response.content_part.added", **text, "part": part},
        {"type": "response.output_text.delta", **text, "delta": "Hi"},
        {"type": "response.output_text.done", **text, "text": "Hi"},
        {"type": "response.content_part.done", **text, "part": {**part, "text": "Hi"}},
        {"type": "response.output_item.done", "output_index": 0, "item": MESSAGE},
        {"type": "response.completed", "response": final},
    ]
    if with_reasoning:
        for event in events:
            if isinstance(event.get("output_index"), int):
                event["output_index"] += 1
        thought = {"item_id": "rs_1", "output_index": 0, "content_index": 0}
        events[2:2] = [
            {"type": "response.output_item.added", "output_index": 0, "item": REASONING_ITEM},
            {"type": "response.reasoning_text.delta", **thought, "delta": "hm"},
            {"type": "response.output_item.done", "output_index": 0, "item": REASONING_ITEM},
        ]
        final["output"] = [REASONING_ITEM, MESSAGE]
    return events


@pytest.mark.parametrize("with_reasoning", [False, True])
def test_a_stream_in_openai_order_passes(with_reasoning: bool) -> None:
    events = _stream(with_reasoning)
    assert rule_of(lambda: _responses.check_order(events, None)) is None


def test_events_out_of_order_fail_the_order_rule() -> None:
    late_progress = _stream()
    late_progress.insert(3, late_progress.pop(1))  # in_progress after the item was added
    created_twice = _stream()
    created_twice.insert(1, copy.deepcopy(created_twice[0]))
    delta_after_done = _stream()
    delta_after_done.insert(6, copy.deepcopy(delta_after_done[4]))
    for events in (late_progress, created_twice, delta_after_done):
        assert rule_of(lambda: _responses.check_order(events, None)) == STREAM_ORDER.id  # noqa: B023


def test_a_reasoning_event_outside_a_reasoning_item_fails() -> None:
    events = _stream()
    text = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events.insert(4, {"type": "response.reasoning_text.delta", **text, "delta": "hm"})
    assert rule_of(lambda: _responses.check_order(events, None)) == RESPONSES_REASONING.id
