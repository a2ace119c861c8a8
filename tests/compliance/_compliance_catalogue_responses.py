"""Broken Responses API servers seen in the wild, as mutations of the reference server's traffic,
and controls (legal variations, stateless or absent Responses) that must not fail the suite."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator

from _compliance_catalogue import Case
from _compliance_proxy import Mutation, Reply

Event = dict


def _is_responses(path: str) -> bool:
    return path.split("?")[0].rstrip("/").endswith("/responses")


def _on_stream(applies: Callable[[str], bool], fn: Callable[[list[Event]], list[Event]]):
    """Rewrites a stream's JSON events; anything else (`[DONE]`) stays where it was, last."""

    def apply(path, req, events):
        if not applies(path):
            return events
        data = [json.loads(e) for e in events if e != "[DONE]"]
        return [json.dumps(e) for e in fn(data)] + [e for e in events if e == "[DONE]"]

    return apply


def _on_events(fn: Callable[[list[Event]], list[Event]]):
    """Rewrites the events of Responses streams (renumbered unless `fn` set the numbers)."""
    return _on_stream(_is_responses, fn)


def _renumbered(events: list[Event]) -> list[Event]:
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def _on_response(fn: Callable[[dict], dict]):
    """Rewrites non-streamed responses (and the response inside terminal stream events)."""

    def apply(path, req, status, obj):
        if _is_responses(path) and status == 200 and isinstance(obj, dict):
            return status, fn(copy.deepcopy(obj))
        return status, obj

    return apply


def _terminal(fn: Callable[[dict], dict]):
    def events(items: list[Event]) -> list[Event]:
        for event in items:
            if isinstance(event.get("response"), dict) and event["type"] != "response.created":
                event["response"] = fn(event["response"])
        return items

    return events


# -- deviations ----------------------------------------------------------------------------------


def _no_sequence_numbers(events: list[Event]) -> list[Event]:
    for event in events:
        event.pop("sequence_number", None)
    return events


def _sequence_zero(events: list[Event]) -> list[Event]:
    for event in events:
        event["sequence_number"] = 0
    return events


def _text_only_at_the_end(events: list[Event]) -> list[Event]:
    return _renumbered([e for e in events if e["type"] != "response.output_text.delta"])


def _no_item_added(events: list[Event]) -> list[Event]:
    dropped = ("response.output_item.added", "response.content_part.added")
    return _renumbered([e for e in events if e["type"] not in dropped])


def _thin_created(events: list[Event]) -> list[Event]:
    for event in events:
        if event["type"] in ("response.created", "response.in_progress"):
            response = event["response"]
            event["response"] = {k: response[k] for k in ("id", "object", "status")}
    return events


def _completed_anyway(response: dict) -> dict:
    if response.get("status") == "incomplete":
        response["status"] = "completed"
        response["incomplete_details"] = None
    return response


def _items_completed(response: dict) -> dict:
    for item in response.get("output") or ():
        item["status"] = "completed"
    return response


def _completed_event_for_incomplete(events: list[Event]) -> list[Event]:
    for event in events:
        if event["type"] == "response.incomplete":
            event["type"] = "response.completed"  # the response inside still says incomplete
    return events


def _arguments_as_object(response: dict) -> dict:
    for item in response.get("output") or ():
        if item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            try:
                item["arguments"] = json.loads(item["arguments"])
            except ValueError:
                item["arguments"] = {"raw": item["arguments"]}
    return response


def _usage_without_details(response: dict) -> dict:
    usage = response.get("usage")
    if isinstance(usage, dict):
        usage.pop("output_tokens_details", None)
    return response


def _no_usage(response: dict) -> dict:
    response.pop("usage", None)
    return response


def _ignore_previous(path, body):
    if _is_responses(path):
        body.pop("previous_response_id", None)
    return body


def _ignore_store_false(path, body):
    if _is_responses(path):
        body.pop("store", None)
    return body


def _responses_422(path, req, status, obj):
    if _is_responses(path) and status == 400:
        return 422, {"detail": [{"loc": ["body"], "msg": obj["error"]["message"]}]}
    return status, obj


def _delete_keeps(method: str, path: str, raw: bytes) -> Reply | None:
    if method == "DELETE" and "/responses/" in path:
        response_id = path.rstrip("/").rsplit("/", 1)[-1]
        body = {"id": response_id, "object": "response.deleted", "deleted": True}
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(body).encode())
    return None


# -- legal variations ----------------------------------------------------------------------------


def _named_events_and_done(events: list[str]) -> Iterator[bytes]:
    """`event:` lines naming each type, comments, and a closing [DONE] (the SDK tolerates it)."""
    yield b": opening\n\n"
    for data in events:
        kind = json.loads(data).get("type", "message") if data != "[DONE]" else None
        prefix = f"event: {kind}\n" if kind else ""
        yield f"{prefix}data: {data}\n\n".encode()
    if "[DONE]" not in events:  # a server that already ends with it keeps its own
        yield b"data: [DONE]\n\n"


def _without_done(path: str, req: object, events: list[str]) -> list[str]:
    """OpenAI's Responses streams end with the terminal event: no `[DONE]`."""
    return [e for e in events if e != "[DONE]"] if _is_responses(path) else events


def _stateless(method: str, path: str, raw: bytes) -> Reply | None:
    """A server that keeps no responses: reads are 404, previous_response_id a 400."""
    error = {"message": "not found", "type": "invalid_request_error", "param": None, "code": None}
    not_found = {"error": error}
    if method in ("GET", "DELETE") and "/responses/" in path:
        return Reply(404, {"Content-Type": "application/json"}, json.dumps(not_found).encode())
    if method == "POST" and _is_responses(path) and b"previous_response_id" in raw:
        error = copy.deepcopy(not_found)
        error["error"] |= {"message": "previous_response_id is not supported", "param": None}
        return Reply(400, {"Content-Type": "application/json"}, json.dumps(error).encode())
    return None


def _says_not_stored(response: dict) -> dict:
    response["store"] = False  # what it keeps: a response that says store: true must be readable
    return response


def _no_responses(method: str, path: str, raw: bytes) -> Reply | None:
    if "/responses" in path:
        return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
    return None


STREAM = "test_responses_stream_events_and_order"
INCOMPLETE = "test_responses_max_output_tokens_gives_incomplete"
SHAPE = "test_responses_shape_and_usage"

RESPONSES_CASES: tuple[Case, ...] = (
    Case(
        "responses-no-sequence-number",
        "llama.cpp server, mlx-vlm, gateways: Responses events without sequence_number",
        Mutation(events=_on_events(_no_sequence_numbers)),
        STREAM,
        "schema.chunk",
    ),
    Case(
        "responses-sequence-number-zero",
        "LiteLLM: every event numbered 0 by a model default",
        Mutation(events=_on_events(_sequence_zero)),
        STREAM,
        "responses.stream.sequence",
    ),
    Case(
        "responses-text-only-at-the-end",
        "web-to-API bridges: no output_text.delta, the text only in .done and the final event",
        Mutation(events=_on_events(_text_only_at_the_end)),
        STREAM,
        "responses.stream.deltas",
    ),
    Case(
        "responses-deltas-without-item",
        "bridges and early ports: text deltas with no output_item.added / content_part.added",
        Mutation(events=_on_events(_no_item_added)),
        STREAM,
        "responses.stream.order",
    ),
    Case(
        "responses-thin-created-event",
        "llama.cpp server: response.created carries only id, object and status",
        Mutation(events=_on_events(_thin_created)),
        STREAM,
        "schema.chunk",
    ),
    Case(
        "responses-completed-when-truncated",
        "llama.cpp server, oMLX: status 'completed' although max_output_tokens cut the output",
        Mutation(
            json=_on_response(_completed_anyway),
            events=_on_events(_terminal(_completed_anyway)),
        ),
        INCOMPLETE,
        "responses.incomplete",
    ),
    Case(
        "responses-item-completed-when-truncated",
        "vLLM: the cut message item says 'completed' inside an incomplete response",
        Mutation(json=_on_response(_items_completed)),
        INCOMPLETE,
        "responses.incomplete",
    ),
    Case(
        "responses-completed-event-for-incomplete",
        "vLLM: a response.completed event that carries an incomplete response",
        Mutation(events=_on_events(_completed_event_for_incomplete)),
        "test_responses_stream_incomplete",
        "responses.stream",
    ),
    Case(
        "responses-arguments-object",
        "Codex-facing proxies: function_call.arguments as an object instead of a JSON string",
        Mutation(json=_on_response(_arguments_as_object)),
        "test_responses_forced_function_call",
        "responses.tools",
    ),
    Case(
        "responses-unknown-previous-200",
        "stateless servers: previous_response_id ignored, an unknown id answered with 200",
        Mutation(request=_ignore_previous),
        "test_responses_error_row and unknown-previous",
        "errors.status",
    ),
    Case(
        "responses-usage-without-details",
        "llama.cpp server: usage without output_tokens_details",
        Mutation(json=_on_response(_usage_without_details)),
        SHAPE,
        "schema.body",
    ),
    Case(
        "responses-missing-usage",
        "bridges: responses without usage (strict profile)",
        Mutation(json=_on_response(_no_usage)),
        SHAPE,
        "responses.usage",
        args=("--profile", "strict"),
    ),
    Case(
        "responses-fastapi-422",
        "FastAPI-based servers: 422 {'detail': [...]} for Responses validation errors",
        Mutation(json=_responses_422),
        "test_responses_error_row and temperature",
        "errors.",
    ),
    Case(
        "responses-delete-keeps",
        "servers whose DELETE answers 200 but keeps the response",
        Mutation(handle=_delete_keeps),
        "test_responses_delete",
        "responses.store.delete",
    ),
    Case(
        "responses-store-false-kept",
        "servers that store every response, store: false included",
        Mutation(request=_ignore_store_false),
        "test_responses_store_false",
        "responses.store.false",
    ),
    Case(
        "responses-absent-but-required",
        "a server without the Responses API, checked with --require responses",
        Mutation(handle=_no_responses),
        SHAPE,
        "capability.required",
        args=("--require", "responses"),
    ),
    # Controls: what a correct client must accept.
    Case(
        "responses-control-passthrough",
        "the reference server's Responses API behind an identity proxy",
        Mutation(),
        "test_responses_stream or test_responses_store or test_responses_shape",
        control=True,
    ),
    Case(
        "responses-control-event-names-and-done",
        "`event:` lines, comments and a trailing data: [DONE] after the terminal event",
        Mutation(frame=_named_events_and_done),
        "test_responses_stream or test_sdk_responses_stream",
        control=True,
    ),
    Case(
        "responses-control-no-done",
        "OpenAI itself: a Responses stream that ends with its terminal event, no data: [DONE]",
        Mutation(events=_without_done),
        "test_responses_stream or test_sdk_responses_stream",
        control=True,
    ),
    Case(
        "responses-control-stateless",
        "a stateless server (Ollama): no stored responses, previous_response_id refused",
        Mutation(handle=_stateless, json=_on_response(_says_not_stored)),
        "test_responses_store or unknown-previous or test_sdk_stored",
        control=True,
    ),
    Case(
        "responses-control-absent",
        "a server without the Responses API: the area is skipped, the rest runs",
        Mutation(handle=_no_responses),
        "responses or test_list_models",
        control=True,
    ),
)
