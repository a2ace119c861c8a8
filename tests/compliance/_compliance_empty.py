"""Servers whose answers say nothing, for the audit of vacuous passes: the suite runs against them
and every check must fail (by `answer.empty` or by its own rule), except the few listed here that
read nothing an answer says (statuses, ids, echoed fields, logprobs, transport).

`answer-no-choices`: chat and completions answers with `choices: []` (streams of `choices: []`
chunks), Responses without output items (streams without item events). `answer-says-nothing`: a
choice or a message item is there, its text empty, and no tool call.
"""

from __future__ import annotations

import json

from _compliance_catalogue import Case, _chunks, _dump
from _compliance_catalogue_responses import _is_responses, _renumbered
from _compliance_proxy import Mutation

# Modules whose checks read no answer's content: error answers, the model list, embeddings, a
# prompt refused for its size, fuzzing (bodies against the schema), the clients (each flow asserts
# on what its own client returns). The audit runs every other module (preset full).
NOT_AUDITED = (
    "test_errors",
    "test_responses_errors",
    "test_models",
    "test_embeddings",
    "test_context",
    "test_fuzz",
    "test_clients",
)
TARGET = "not (" + " or ".join(NOT_AUDITED) + ")"
ITEM_EVENTS = (
    "response.output_item.",
    "response.content_part.",
    "response.output_text.",
    "response.refusal.",
    "response.function_call_arguments.",
)

# Checks that may pass either server, and why: they judge nothing an answer says.
READ_NO_ANSWER = {
    "test_sdk.py::test_sdk_models_list": "the model list",
    "test_sdk.py::test_sdk_unknown_model_raises_not_found": "an error answer",
    "test_sdk.py::test_sdk_embeddings": "embeddings, untouched",
    "test_responses.py::test_responses_echo_request_fields": "fields echoed from the request",
    "test_responses_store.py::test_responses_input_items": "the input, not the output",
    "test_responses_store.py::test_responses_delete": "what is stored",
    "test_responses_store.py::test_responses_store_false": "what is stored",
    "test_responses_sdk.py::test_sdk_stored_responses": "ids and input items",
    "test_responses_ws.py::test_responses_ws_sequential": "the ids of two turns",
    "test_responses_ws.py::test_responses_ws_continuation": "the id echoed, the input counted",
    "test_responses_ws.py::test_responses_ws_unknown_previous": "an error, then a turn's events",
    "test_responses_ws.py::test_responses_ws_store_false_after_reconnect": "an error answer",
    "test_responses_ws.py::test_responses_ws_failed_continuation_evicts": "error answers",
    "test_responses_compact.py::test_responses_compact_shape": "the compacted window, untouched",
    "test_responses_compact.py::test_responses_compact_missing_model": "an error answer",
    "test_transport.py::test_compression_negotiation": "how the bytes are encoded",
    "test_transport.py::test_short_burst": "statuses under load",
    "test_transport.py::test_server_recovers_after_client_disconnect": "the next status",
}
# Checks that may pass a choice (an item) that says nothing: they read its shape, not its words.
READ_NO_WORDS = {
    "test_chat.py::test_chat_shape_and_usage": "the shape and usage",
    "test_chat.py::test_n_choices": "choice indexes and finishes",
    "test_chat.py::test_logprobs_shape": "logprobs, untouched",
    "test_chat.py::test_mandatory_input_forms": "that the request is accepted",
    "test_streaming.py::test_stream_framing_and_chunks": "ids, roles and finish reasons",
    "test_streaming.py::test_stream_include_usage": "the usage chunk",
    "test_completions.py::test_completion_shape_and_usage": "the shape and usage",
    "test_completions.py::test_legacy_logprobs_shape": "logprobs, untouched",
    "test_tools.py::test_tool_result_turn": "that the request is accepted",
    "test_responses.py::test_responses_shape_and_usage": "the shape and usage",
    "test_sdk.py::test_sdk_chat": "that the SDK parses the shape",
    "test_sdk.py::test_sdk_chat_stream": "that the SDK iterates the stream to its usage",
    "test_transport.py::test_compressed_stream_decodes": "how the bytes are encoded",
    "test_transport.py::test_slow_reader_gets_whole_stream": "that the stream reaches its end",
}


# -- no choices, no items --------------------------------------------------------------------


def _no_choices_json(path, req, status, obj):
    if status == 200 and isinstance(obj, dict):
        if obj.get("object") in ("chat.completion", "text_completion"):
            obj["choices"] = []
        if obj.get("object") == "response":
            obj["output"] = []
    return status, obj


def _no_choices_events(path, req, events):
    if not _is_responses(path):
        chunks = _chunks(events)
        for chunk in chunks:
            chunk["choices"] = []
        return _dump(chunks)
    kept = [json.loads(e) for e in events if e != "[DONE]"]
    kept = [e for e in kept if not e["type"].startswith(ITEM_EVENTS)]
    for event in kept:
        if isinstance(event.get("response"), dict):
            event["response"]["output"] = []
    return [json.dumps(e) for e in _renumbered(kept)]


# -- a choice that says nothing ----------------------------------------------------------------


def _blank_item(item: dict) -> dict:
    for part in item.get("content") or ():
        if isinstance(part, dict) and "text" in part:
            part["text"] = ""
    return item


def _blank_response(response: dict) -> None:
    output = response.get("output") or []
    response["output"] = [_blank_item(i) for i in output if i.get("type") != "function_call"]


def _blank_choice(choice: dict) -> None:
    if "text" in choice:  # completions
        choice["text"] = ""
    for part in ("message", "delta"):
        body = choice.get(part)
        if isinstance(body, dict):
            body.pop("tool_calls", None)
            if "content" in body or part == "message":
                body["content"] = ""


def _blank_json(path, req, status, obj):
    if status == 200 and isinstance(obj, dict):
        for choice in obj.get("choices") or ():
            _blank_choice(choice)
        if obj.get("object") == "response":
            _blank_response(obj)
    return status, obj


def _blank_event(event: dict) -> dict | None:
    item = event.get("item")
    if isinstance(item, dict) and item.get("type") == "function_call":
        return None
    if event["type"].startswith("response.function_call_arguments."):
        return None
    if event["type"] == "response.output_text.delta":
        event["delta"] = ""
    if event["type"] == "response.output_text.done":
        event["text"] = ""
    if isinstance(event.get("part"), dict) and "text" in event["part"]:
        event["part"]["text"] = ""
    if isinstance(item, dict):
        _blank_item(item)
    if isinstance(event.get("response"), dict):
        _blank_response(event["response"])
    return event


def _blank_events(path, req, events):
    if not _is_responses(path):
        chunks = _chunks(events)
        for chunk in chunks:
            for choice in chunk.get("choices") or ():
                _blank_choice(choice)
        return _dump(chunks)
    blanked = [_blank_event(json.loads(e)) for e in events if e != "[DONE]"]
    return [json.dumps(e) for e in _renumbered([e for e in blanked if e is not None])]


EMPTY_CASES: tuple[Case, ...] = (
    Case(
        "answer-no-choices",
        "gateways and proxies: `choices: []` answered 200 (a filtered or failed backend)",
        Mutation(json=_no_choices_json, events=_no_choices_events),
        TARGET,
        "answer.empty",
        args=("--preset", "full"),
        extra={"may_pass": READ_NO_ANSWER},
    ),
    Case(
        "answer-says-nothing",
        "servers that drop the generated text: empty content, no tool call",
        Mutation(json=_blank_json, events=_blank_events),
        TARGET,
        "answer.empty",
        args=("--preset", "full"),
        extra={"may_pass": READ_NO_ANSWER | READ_NO_WORDS},
    ),
)
