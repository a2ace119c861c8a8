"""Reasoning servers, mandatory Responses inputs and the invariants every answer implies, as
mutations of the reference server's traffic: a correct reasoning server (the control, which must
pass every check it meets) and the deviations each rule must catch.

The reasoning control behaves as llama-server, vLLM and DeepSeek do for a reasoning model: chat
answers carry `reasoning_content` (streamed before the content) and count reasoning tokens within
`completion_tokens`; Responses lead with a `reasoning` item and count `reasoning_tokens` within
`output_tokens`. The thought is added beside the real answer, so every other check sees the
reference server's own text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from _compliance_catalogue import Case
from _compliance_catalogue_responses import _on_stream, _stateless
from _compliance_proxy import Mutation, Reply

THOUGHT = "Let me think about this."
REASONING_TOKENS = 2  # claimed out of the answer's own tokens, so the totals stay the same
Event = dict


def _is_chat(path: str) -> bool:
    return path.split("?")[0].endswith("/chat/completions")


def _is_response(path: str) -> bool:
    """A response itself: created (`/responses`) or read back (`/responses/{id}`)."""
    parts = path.split("?")[0].rstrip("/").split("/")
    return parts[-1] == "responses" or (len(parts) > 1 and parts[-2] == "responses")


def _on_json(applies: Callable[[str], bool], fn: Callable[[dict], dict]):
    def apply(path, req, status, obj):
        if applies(path) and status == 200 and isinstance(obj, dict):
            return status, fn(copy.deepcopy(obj))
        return status, obj

    return apply


def _refuse(marker: bytes):
    """A server that answers 400 to any Responses request whose body holds `marker`."""

    def handle(method: str, path: str, raw: bytes) -> Reply | None:
        if method == "POST" and path.rstrip("/").endswith("/responses") and marker in raw:
            error = {"message": "unsupported input", "type": "invalid_request_error"}
            body = {"error": {**error, "param": "input", "code": None}}
            return Reply(400, {"Content-Type": "application/json"}, json.dumps(body).encode())
        return None

    return handle


# -- chat: a reasoning server ------------------------------------------------------------------


def _chat_usage(usage: dict, reasoning: int | None = None) -> None:
    completion = usage.get("completion_tokens") or 0
    spent = min(REASONING_TOKENS, completion) if reasoning is None else reasoning
    usage["completion_tokens_details"] = {"reasoning_tokens": spent}


def _chat_thinks(body: dict) -> dict:
    for choice in body.get("choices") or ():
        choice.get("message", {})["reasoning_content"] = THOUGHT
    if isinstance(body.get("usage"), dict):
        _chat_usage(body["usage"])
    return body


def _thought_chunk(chunk: dict, index: int) -> dict:
    thought = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
    delta = {"reasoning_content": THOUGHT}
    thought["choices"] = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]
    return thought


def _chat_stream_thinks(chunks: list[Event]) -> list[Event]:
    """A reasoning delta right after each choice's opening chunk (its role), before content."""
    out: list[Event] = []
    opened: set[int] = set()
    for chunk in chunks:
        out.append(chunk)
        if isinstance(chunk.get("usage"), dict):
            _chat_usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            if index not in opened:
                opened.add(index)
                # The opening chunk carries the role; an answer starting in it keeps its place.
                if not (choice.get("delta") or {}).get("content"):
                    out.append(_thought_chunk(chunk, index))
    return out


def _chat_thinks_last(chunks: list[Event]) -> list[Event]:
    """The reasoning delta after the content (before the finish chunk)."""
    last = max(
        (
            i
            for i, c in enumerate(chunks)
            for ch in c.get("choices") or ()
            if (ch.get("delta") or {}).get("content")
        ),
        default=None,
    )
    if last is None:
        return chunks
    return [*chunks[: last + 1], _thought_chunk(chunks[last], 0), *chunks[last + 1 :]]


def _reasoning_over_completion(body: dict) -> dict:
    if isinstance(body.get("usage"), dict):
        _chat_usage(body["usage"], body["usage"]["completion_tokens"] + 5)
    return body


# -- Responses: a reasoning server -------------------------------------------------------------


def _reasoning_item(response_id: str, text: str = THOUGHT) -> dict:
    content = [{"type": "reasoning_text", "text": text}] if text else []
    item_id = "rs_" + response_id.removeprefix("resp_")
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [],
        "content": content,
        "status": "completed",
    }


def _responses_usage(usage: dict, reasoning: int | None = None) -> None:
    output = usage.get("output_tokens") or 0
    spent = min(REASONING_TOKENS, output) if reasoning is None else reasoning
    usage["output_tokens_details"] = {"reasoning_tokens": spent}


def _response_thinks(response: dict) -> dict:
    if response.get("object") != "response" or not isinstance(response.get("output"), list):
        return response
    if response["output"]:  # the thought leads whatever the model then did
        response["output"].insert(0, _reasoning_item(str(response.get("id"))))
    if isinstance(response.get("usage"), dict):
        _responses_usage(response["usage"])
    return response


def _response_stream_thinks(events: list[Event]) -> list[Event]:
    """The reasoning item's events before the message's, every later output_index one higher."""
    response_id = str(events[0].get("response", {}).get("id"))
    item = _reasoning_item(response_id)
    opening = {**item, "content": [], "status": "in_progress"}
    common = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    thought = [
        {"type": "response.output_item.added", "output_index": 0, "item": opening},
        {"type": "response.reasoning_text.delta", **common, "delta": THOUGHT},
        {"type": "response.reasoning_text.done", **common, "text": THOUGHT},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
    ]
    out: list[Event] = []
    for event in events:
        if isinstance(event.get("output_index"), int):
            event["output_index"] += 1
        if event["type"] == "response.output_item.added" and thought:
            out.extend(thought)
            thought = []
        if isinstance(event.get("response"), dict) and event["type"] not in (
            "response.created",
            "response.in_progress",
        ):
            _response_thinks(event["response"])
        out.append(event)
    for number, event in enumerate(out):
        event["sequence_number"] = number
    return out


def _reasoning_after_message(response: dict) -> dict:
    if isinstance(response.get("output"), list) and response["output"]:
        response["output"].append(_reasoning_item(str(response.get("id"))))
    return response


def _reasoning_over_output(response: dict) -> dict:
    if isinstance(response.get("usage"), dict):
        _responses_usage(response["usage"], response["usage"]["output_tokens"] + 5)
    return response


# -- usage parts and event order -----------------------------------------------------------------


def _cached_over_input(response: dict) -> dict:
    usage = response.get("usage")
    if isinstance(usage, dict):
        usage["input_tokens_details"] = {
            "cached_tokens": usage["input_tokens"] + 3,
            "cache_write_tokens": 0,
        }
    return response


def _cached_over_prompt(body: dict) -> dict:
    usage = body.get("usage")
    if isinstance(usage, dict):
        usage["prompt_tokens_details"] = {"cached_tokens": usage["prompt_tokens"] + 3}
    return body


def _in_progress_late(events: list[Event]) -> list[Event]:
    """response.in_progress moved after the first output item was added."""
    late = [e for e in events if e["type"] == "response.in_progress"]
    kept = [e for e in events if e["type"] != "response.in_progress"]
    added = next((i for i, e in enumerate(kept) if e["type"] == "response.output_item.added"), None)
    if not late or added is None:
        return events
    out = [*kept[: added + 1], *late, *kept[added + 1 :]]
    for number, event in enumerate(out):
        event["sequence_number"] = number
    return out


def _json_hooks(*hooks):
    def apply(path, req, status, obj):
        for hook in hooks:
            status, obj = hook(path, req, status, obj)
        return status, obj

    return apply


def _event_hooks(*hooks):
    def apply(path, req, events):
        for hook in hooks:
            events = hook(path, req, events)
        return events

    return apply


REASONING_CONTROL = Mutation(
    json=_json_hooks(_on_json(_is_chat, _chat_thinks), _on_json(_is_response, _response_thinks)),
    events=_event_hooks(
        _on_stream(_is_chat, _chat_stream_thinks),
        _on_stream(_is_response, _response_stream_thinks),
    ),
)
SHAPE = "test_chat_shape_and_usage"
RESPONSES_SHAPE = "test_responses_shape_and_usage"

REASONING_CASES: tuple[Case, ...] = (
    Case(
        "reasoning-after-content",
        "reasoning parsers that flush the thought at the end: reasoning_content after content",
        Mutation(events=_on_stream(_is_chat, _chat_thinks_last)),
        "test_stream_framing_and_chunks or test_stream_text_equals",
        "chat.reasoning.shape",
    ),
    Case(
        "reasoning-tokens-over-completion",
        "servers that add reasoning_tokens on top: more reasoning tokens than completion tokens",
        Mutation(json=_on_json(_is_chat, _reasoning_over_completion)),
        SHAPE,
        "chat.reasoning.shape",
    ),
    Case(
        "responses-reasoning-after-message",
        "Responses ports that append the reasoning item after the answer message",
        Mutation(json=_on_json(_is_response, _reasoning_after_message)),
        RESPONSES_SHAPE,
        "responses.reasoning.shape",
    ),
    Case(
        "responses-reasoning-tokens-over-output",
        "Responses ports that count reasoning_tokens apart from output_tokens",
        Mutation(json=_on_json(_is_response, _reasoning_over_output)),
        RESPONSES_SHAPE,
        "responses.reasoning.shape",
    ),
    Case(
        "responses-cached-over-input",
        "prompt caches that report cached_tokens beyond the input",
        Mutation(json=_on_json(_is_response, _cached_over_input)),
        RESPONSES_SHAPE,
        "responses.usage",
    ),
    Case(
        "chat-cached-over-prompt",
        "prompt caches that report cached_tokens beyond the prompt",
        Mutation(json=_on_json(_is_chat, _cached_over_prompt)),
        SHAPE,
        "usage.counts",
    ),
    Case(
        "responses-in-progress-late",
        "Responses bridges that send response.in_progress after the first item",
        Mutation(events=_on_stream(_is_response, _in_progress_late)),
        "test_responses_stream_events_and_order",
        "responses.stream.order",
    ),
    Case(
        "responses-content-parts-refused",
        "servers that take only string content: input_text parts answered 400",
        Mutation(handle=_refuse(b'"input_text"')),
        "test_responses_mandatory_input_forms and content-parts",
        "responses.input.content-parts",
    ),
    Case(
        "responses-function-items-refused",
        "servers that take only messages: function_call / function_call_output items answered 400",
        Mutation(handle=_refuse(b'"function_call_output"')),
        "test_responses_mandatory_input_forms and function-call",
        "responses.input.items",
    ),
    Case(
        "responses-stateless-says-stored",
        "stateless servers whose responses say store: true: read back, they are 404",
        Mutation(handle=_stateless),
        "test_responses_retrieve_stored or test_responses_input_items",
        "responses.store.retrieve",
    ),
    # Controls: what a correct client must accept.
    Case(
        "reasoning-control",
        "llama-server, vLLM, DeepSeek: reasoning_content before content, reasoning items and "
        "reasoning_tokens within the output counts",
        REASONING_CONTROL,
        "test_chat or test_streaming or test_tools or test_responses_shape "
        "or test_responses_stream or test_responses_max or test_responses_mandatory "
        "or test_responses_retrieve or test_sdk_chat or test_sdk_responses",
        control=True,
    ),
)
