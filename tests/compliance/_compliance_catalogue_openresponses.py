"""Servers that break Open Responses (caught under `--profile openresponses`), servers that
break the WebSocket mode or compaction (caught in every profile), and controls: the same
answers where OpenAI's contract allows them pass the `openai` profile, and a server without
the WebSocket mode or compaction is skipped, not failed, unless `--require` names the feature.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from _compliance_catalogue import Case
from _compliance_catalogue_responses import (
    INCOMPLETE,
    SHAPE,
    STREAM,
    Event,
    _is_responses,
    _on_events,
    _on_response,
    _renumbered,
    _without_done,
)
from _compliance_proxy import Mutation, Reply

OPENRESPONSES = ("--profile", "openresponses")
# Fields OpenAI documents as optional that Open Responses requires in every response.
OPENRESPONSES_ONLY = ("presence_penalty", "frequency_penalty", "max_tool_calls")
WS = "test_responses_ws"
COMPACT = "test_responses_compact"


def typed_frame(events: list[str]) -> Iterator[bytes]:
    """SSE as Open Responses frames it: an `event:` line naming each event's type."""
    for data in events:
        kind = json.loads(data).get("type") if data != "[DONE]" else None
        yield (f"event: {kind}\n" if kind else "").encode() + f"data: {data}\n\n".encode()


def _everywhere(fn):
    """Applies `fn` to plain responses and to the response inside every stream event."""

    def events(items: list[Event]) -> list[Event]:
        for event in items:
            if isinstance(event.get("response"), dict):
                event["response"] = fn(event["response"])
        return items

    return {"json": _on_response(fn), "events": _on_events(events)}


def _openai_minimum(response: dict) -> dict:
    for key in OPENRESPONSES_ONLY:
        response.pop(key, None)
    return response


def _null_sampling(response: dict) -> dict:
    response["temperature"] = response["top_p"] = None  # OpenAI documents both nullable
    return response


def _other_event_names(events: list[str]) -> Iterator[bytes]:
    """Every `event:` line names the type of the event before it."""
    previous = "response.created"
    for data in events:
        kind = json.loads(data).get("type") if data != "[DONE]" else None
        yield (f"event: {previous}\n" if kind else "").encode() + f"data: {data}\n\n".encode()
        previous = kind or previous


def _part_done_before_text_done(events: list[Event]) -> list[Event]:
    kinds = [e["type"] for e in events]
    if "response.output_text.done" in kinds and "response.content_part.done" in kinds:
        text, part = (
            kinds.index("response.output_text.done"),
            kinds.index("response.content_part.done"),
        )
        events[text], events[part] = events[part], events[text]
    return _renumbered(events)


def _numbered_per_item(events: list[Event]) -> list[Event]:
    number = 0
    for event in events:
        if event["type"] == "response.output_item.added":
            number = 0
        event["sequence_number"] = number
        number += 1
    return events


def _cut_call_first(path, req, status, obj):
    """An incomplete response whose cut call comes before the (last, incomplete) message."""
    if not (_is_responses(path) and status == 200 and obj.get("status") == "incomplete"):
        return status, obj
    call = {"id": "fc_cut", "type": "function_call", "call_id": "call_cut", "name": "f"}
    obj["output"].insert(0, {**call, "arguments": "{", "status": "incomplete"})
    return status, obj


def _without(route: str, method: str):
    def handle(m: str, path: str, raw: bytes) -> Reply | None:
        if m == method and path.split("?")[0].rstrip("/").endswith(route):
            return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
        return None

    return handle


def _done_mid_turn(path, req, events):
    """A WebSocket turn (no [DONE] of its own) with `[DONE]` before its terminal event."""
    if not _is_responses(path) or "[DONE]" in events or len(events) < 2:
        return events
    return [*events[:-1], "[DONE]", events[-1]]


def _generic_not_found(path, req, events):
    """An unknown previous_response_id refused with a generic error code."""
    out = []
    for data in events:
        event = json.loads(data) if data != "[DONE]" else {}
        if event.get("type") == "error" and isinstance(event.get("error"), dict):
            event["error"]["code"] = "invalid_request_error"
            data = json.dumps(event)
        out.append(data)
    return out


def _compaction_dropped(path, req, status, obj):
    if path.endswith("/responses/compact") and status == 200:
        obj["output"] = [i for i in obj.get("output") or () if i.get("type") != "compaction"]
    return status, obj


def _default_model(path, body):
    if path.endswith("/responses/compact"):
        body.setdefault("model", "inferno-tiny")  # served by the default model, not refused
    return body


_ALLOWED = _everywhere(lambda response: _null_sampling(_openai_minimum(response)))


def _allowed_events(path, req, events):
    return _ALLOWED["events"](path, req, _without_done(path, req, events))


def _refusing(fragment: bytes, param: str):
    """A 400 for any Responses request whose body holds `fragment`."""

    def handle(method: str, path: str, raw: bytes) -> Reply | None:
        if method != "POST" or not _is_responses(path) or fragment not in raw:
            return None
        error = {"message": f"Invalid '{param}'", "type": "invalid_request_error"}
        body = json.dumps({"error": {**error, "param": param, "code": None}}).encode()
        return Reply(400, {"Content-Type": "application/json"}, body)

    return handle


_NO_WEBSOCKET = _without("/v1/responses", "GET")
_NO_COMPACT = _without("/responses/compact", "POST")


def _none_of_both(method: str, path: str, raw: bytes) -> Reply | None:
    return _NO_WEBSOCKET(method, path, raw) or _NO_COMPACT(method, path, raw)


OPENRESPONSES_CASES: tuple[Case, ...] = (
    Case(
        "openresponses-openai-minimum",
        "servers built to OpenAI's schema: no presence_penalty, frequency_penalty, max_tool_calls",
        Mutation(**_everywhere(_openai_minimum), frame=typed_frame),
        f"{SHAPE} or {STREAM}",
        "openresponses.fields",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-null-sampling",
        "bridges that echo unset sampling parameters as null",
        Mutation(**_everywhere(_null_sampling), frame=typed_frame),
        SHAPE,
        "openresponses.fields",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-no-event-lines",
        "servers that frame Responses events as chat chunks: `data:` lines only",
        Mutation(),
        STREAM,
        "openresponses.stream.event-line",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-event-line-other-type",
        "an SSE writer one event behind: each `event:` line names the previous type",
        Mutation(frame=_other_event_names),
        STREAM,
        "responses.stream.event-name",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-no-done",
        "OpenAI's own framing: the stream ends with its terminal event, no `data: [DONE]`",
        Mutation(events=_without_done, frame=typed_frame),
        STREAM,
        "openresponses.stream.done",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-part-done-before-text-done",
        "servers that close the content part before its output_text.done",
        Mutation(events=_on_events(_part_done_before_text_done), frame=typed_frame),
        STREAM,
        "openresponses.stream.item-states",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-incomplete-not-last",
        "a cut function call reported before the cut message, both incomplete",
        Mutation(json=_cut_call_first, frame=typed_frame),
        INCOMPLETE,
        "openresponses.incomplete-last",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-sequence-per-item",
        "servers that number events per output item, from 0 again",
        Mutation(events=_on_events(_numbered_per_item), frame=typed_frame),
        STREAM,
        "responses.stream.sequence",
        args=OPENRESPONSES,
    ),
    Case(
        "openresponses-phase-refused",
        "servers built to OpenAI's schema: an assistant message with `phase` is a 400",
        Mutation(handle=_refusing(b'"phase"', "input[0].phase"), frame=typed_frame),
        "test_responses_assistant_phase_accepted",
        "openresponses.input.phase",
        args=OPENRESPONSES,
    ),
    Case(
        "responses-input-system-refused",
        "servers that take only user and assistant roles: a system message in input is a 400",
        Mutation(handle=_refusing(b'"role": "system"', "input[0].role")),
        "test_responses_mandatory_input_forms and history",
        "responses.input.history",
    ),
    Case(
        "openresponses-websocket-absent-but-required",
        "a server without the WebSocket mode, checked with --require responses_websocket",
        Mutation(handle=_NO_WEBSOCKET, frame=typed_frame),
        WS,
        "capability.required",
        args=(*OPENRESPONSES, "--require", "responses_websocket"),
    ),
    Case(
        "openresponses-compact-absent-but-required",
        "a server without compaction, checked with --require responses_compact",
        Mutation(handle=_NO_COMPACT, frame=typed_frame),
        COMPACT,
        "capability.required",
        args=(*OPENRESPONSES, "--require", "responses_compact"),
    ),
    Case(
        "responses-ws-done-mid-turn",
        "bridges that send SSE's `[DONE]` over the WebSocket mode, before the terminal event",
        Mutation(events=_done_mid_turn),
        "test_responses_ws_turn",
        "responses.stream.done",
    ),
    Case(
        "responses-ws-generic-not-found",
        "an unknown previous_response_id refused with a generic error code",
        Mutation(events=_generic_not_found),
        "test_responses_ws_unknown_previous",
        "responses.ws.not-found",
    ),
    Case(
        "responses-compact-without-compaction-item",
        "compaction by truncation: the window is the user messages, no compaction item",
        Mutation(json=_compaction_dropped),
        COMPACT,
        "responses.compact",
    ),
    Case(
        "responses-compact-default-model",
        "servers that compact with their default model when `model` is missing",
        Mutation(request=_default_model),
        "test_responses_compact_missing_model",
        "errors.status",
    ),
    # Controls.
    Case(
        "openresponses-control-passthrough",
        "the reference server behind an identity proxy that frames as Open Responses does",
        Mutation(frame=typed_frame),
        f"{STREAM} or {SHAPE} or {INCOMPLETE} or {WS} or {COMPACT}",
        args=("--profile", "openresponses,strict"),
        control=True,
    ),
    Case(
        "openresponses-control-openai-allows",
        "what OpenAI's contract allows: no [DONE], no `event:` lines, optional fields absent, "
        "nullable sampling parameters null (the openai profile)",
        Mutation(json=_ALLOWED["json"], events=_allowed_events),
        f"{STREAM} or {SHAPE} or {WS}",
        control=True,
    ),
    Case(
        "openresponses-control-features-absent",
        "a server without the WebSocket mode and compaction: their checks are skipped",
        Mutation(handle=_none_of_both, frame=typed_frame),
        f"{WS} or {COMPACT} or {SHAPE}",
        args=OPENRESPONSES,
        control=True,
    ),
)
