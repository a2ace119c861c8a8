"""Broken servers for the suite's former blind spots: deviations only when streaming, context
overflow, preconditions a server could dodge, mandatory input forms declined with a 400, tool-call
semantics, strict rules; and controls for what OpenAI itself answers (strict must pass them).
"""

from __future__ import annotations

import json

from _compliance_catalogue import Case, _chunks, _dump
from _compliance_proxy import Mutation, Reply

STRICT = ("--profile", "strict")
KEY = "catalogue-key"
HUGE = 500_000  # bytes: only the suite's context-overflow prompt is this large


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": code}}  # fmt: skip
    return Reply(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


def _when_streaming(*keys: str, **values: object):
    """Drop or force request fields, but only in streamed requests."""

    def apply(path, body):
        if body.get("stream") is True:
            for key in keys:
                body.pop(key, None)
            body.update(values)
        return body

    return apply


def _overflow_as_stream(method: str, path: str, raw: bytes) -> Reply | None:
    if len(raw) > HUGE and b'"stream": true' in raw:
        error = {"error": {"message": "context length exceeded", "type": "invalid_request_error"}}
        frames = iter([f"data: {json.dumps(error)}\n\n".encode(), b"data: [DONE]\n\n"])
        return Reply(200, {"Content-Type": "text/event-stream"}, frames)
    return None


def _overflow_as_500(method: str, path: str, raw: bytes) -> Reply | None:
    if len(raw) > HUGE and b'"stream": true' not in raw:
        return Reply(500, {"Content-Type": "application/json"}, b'{"error": "llama_decode -1"}')
    return None


def _length_reported_as_stop_json(path, req, status, obj):
    for choice in obj.get("choices", []) if isinstance(obj, dict) and status == 200 else []:
        if choice.get("finish_reason") == "length":
            choice["finish_reason"] = "stop"
    return status, obj


def _length_reported_as_stop_events(path, req, events):
    chunks = _chunks(events)
    for chunk in chunks:
        for choice in chunk.get("choices", []):
            if choice.get("finish_reason") == "length":
                choice["finish_reason"] = "stop"
    return _dump(chunks)


def _reject_content_parts(method: str, path: str, raw: bytes) -> Reply | None:
    if path.endswith("/chat/completions") and b'"type": "text"' in raw:
        return _error(400, "content must be a string", param="messages")
    return None


def _reject_token_ids(method: str, path: str, raw: bytes) -> Reply | None:
    if path.endswith("/embeddings"):
        body = json.loads(raw or b"{}")
        value = body.get("input")
        if isinstance(value, list) and value and not isinstance(value[0], str):
            return _error(400, "input must be a string or a list of strings", param="input")
    return None


def _tool_finish_length_json(path, req, status, obj):
    if status == 200 and isinstance(obj, dict):
        for choice in obj.get("choices", []):
            if (choice.get("message") or {}).get("tool_calls"):
                choice["finish_reason"] = "length"
    return status, obj


def _tool_finish_length_events(path, req, events):
    chunks = _chunks(events)
    if any((c.get("delta") or {}).get("tool_calls") for ch in chunks for c in ch["choices"]):
        for chunk in chunks:
            for choice in chunk["choices"]:
                if choice.get("finish_reason"):
                    choice["finish_reason"] = "length"
    return _dump(chunks)


def _call_echoed_as_content(path, req, status, obj):
    if status == 200 and isinstance(obj, dict):
        for choice in obj.get("choices", []):
            message = choice.get("message") or {}
            for call in message.get("tool_calls") or []:
                message["content"] = json.dumps(
                    {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}
                )
    return status, obj


def _openai_style_auth(headers: dict[str, str]) -> Reply | None:
    """Exactly what OpenAI answers a missing or wrong key."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    if value == f"Bearer {KEY}":
        return None
    if not value:
        return _error(401, "You didn't provide an API key.")
    return _error(401, "Incorrect API key provided.", code="invalid_api_key")


def _wrong_method_404(method: str, path: str, raw: bytes) -> Reply | None:
    if method == "GET" and path.endswith("/chat/completions"):
        return _error(404, "Invalid URL (GET /v1/chat/completions)")
    return None


def _form_body_400(method: str, path: str, raw: bytes) -> Reply | None:
    if raw.startswith(b"model="):
        return _error(400, "We could not parse the JSON body of your request.")
    return None


def _no_param(path, req, status, obj):
    if status == 400 and isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        obj["error"]["param"] = None
    return status, obj


def _no_refusal(path, req, status, obj):
    if path.endswith("/chat/completions") and status == 200 and isinstance(obj, dict):
        for choice in obj.get("choices", []):
            (choice.get("message") or {}).pop("refusal", None)
    return status, obj


CASES: tuple[Case, ...] = (
    Case(
        "stop-ignored-when-streaming",
        "llama.cpp server, LocalAI: stop applied to plain answers only",
        Mutation(request=_when_streaming("stop")),
        "test_stop_sequence_cuts_output and stream",
        "stop.honoured",
    ),
    Case(
        "n-ignored-when-streaming",
        "vLLM/Ollama: streams one choice whatever n says",
        Mutation(request=_when_streaming(n=1)),
        "test_n_choices and stream",
        "chat.n",
    ),
    Case(
        "max-tokens-ignored-when-streaming",
        "Ollama: num_predict not passed on the streaming path",
        Mutation(request=_when_streaming("max_tokens", "max_completion_tokens")),
        "test_token_limit_gives_length and stream",
        "limit.honoured",
    ),
    Case(
        "context-overflow-in-200-stream",
        "llama.cpp server, vLLM: the overflow error sent inside a 200 stream",
        Mutation(handle=_overflow_as_stream),
        "test_context_overflow and stream and chat",
        "context.overflow",
    ),
    Case(
        "context-overflow-500",
        "llama-cpp-python: a prompt over the context is a 500",
        Mutation(handle=_overflow_as_500),
        "test_context_overflow and plain and chat",
        "context.overflow",
    ),
    Case(
        "length-always-reported-as-stop",
        "Ollama: finish_reason 'stop' for every cut answer (the old precondition skipped here)",
        Mutation(json=_length_reported_as_stop_json, events=_length_reported_as_stop_events),
        "test_token_limit_gives_length or test_completion_max_tokens",
        "limit.finish-length",
    ),
    Case(
        "content-parts-declined",
        "small servers: 400 for content given as a list of parts",
        Mutation(handle=_reject_content_parts),
        "test_mandatory_input_forms and content-parts",
        "chat.input.content-parts",
    ),
    Case(
        "token-ids-declined",
        "llama-server, TGI: 400 for embeddings input given as token ids",
        Mutation(handle=_reject_token_ids),
        "test_token_id_input",
        "embeddings.token-ids",
    ),
    Case(
        "tool-calls-finish-length",
        "vLLM: finish_reason 'length' on complete tool calls",
        Mutation(json=_tool_finish_length_json, events=_tool_finish_length_events),
        "test_forced_tool_call and not cut",
        "chat.tools.finish-reason",
    ),
    Case(
        "tool-call-echoed-as-content",
        "llama.cpp server: the raw call JSON also returned as message.content",
        Mutation(json=_call_echoed_as_content),
        "test_forced_tool_call and plain and not cut",
        "chat.tools.content",
    ),
    Case(
        "refusal-missing",
        "llama-server, llama-cpp-python: message.refusal missing (one root cause, many checks)",
        Mutation(json=_no_refusal),
        "test_chat_shape or test_temperature or test_mandatory_input_forms and plain",
        "schema.body",
        extra={"deviations": 1},
    ),
    Case(
        "strict-wrong-method-404",
        "OpenAI itself: 404 'Invalid URL' for a wrong method (fails only strict's 405 rule)",
        Mutation(handle=_wrong_method_404),
        "test_error_row and wrong-method",
        "strict.method-405",
        args=STRICT,
    ),
    Case(
        "strict-form-body-400",
        "OpenAI-like: 400 for a form-encoded body (fails only strict's 415 rule)",
        Mutation(handle=_form_body_400),
        "test_error_row and non-json",
        "strict.media-type-415",
        args=STRICT,
    ),
    Case(
        "strict-error-param-null",
        "LocalAI/vLLM: error.param always null",
        Mutation(json=_no_param),
        "test_error_row and temperature-high",
        "strict.error-param",
        args=STRICT,
    ),
    Case(
        "control-openai-style-auth-strict",
        "401 with type invalid_request_error and code invalid_api_key, exactly as OpenAI answers",
        Mutation(authorize=_openai_style_auth),
        "test_auth_required",
        control=True,
        args=(*STRICT, "--api-key", KEY),
    ),
)
