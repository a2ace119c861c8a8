"""Broken servers seen in the wild, each a mutation of real responses, and controls that must pass.

`target` is the -k expression of the tests that must catch the bug; `rule` the rule prefix the
failure must name. Sources are the kind of bug reports each deviation was taken from.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from _compliance_proxy import Mutation, Reply, default_frame, endless

UNKNOWN = "inferno-no-such-model"


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    mutation: Mutation
    target: str
    rule: str = ""  # expected rule prefix; "" for controls
    args: tuple[str, ...] = ()
    control: bool = False
    extra: dict = field(default_factory=dict)


def _chunks(events: list[str]) -> list[dict]:
    return [json.loads(e) for e in events if e != "[DONE]"]


def _dump(chunks: list[dict], done: bool = True) -> list[str]:
    return [json.dumps(c) for c in chunks] + (["[DONE]"] if done else [])


def _on_chat(fn):
    def apply(path, req, status, obj):
        if path.endswith("/chat/completions") and status == 200:
            return status, fn(copy.deepcopy(obj))
        return status, obj

    return apply


def _on_error(fn):
    def apply(path, req, status, obj):
        return fn(status, obj) if status >= 400 else (status, obj)

    return apply


def _stream_map(fn):
    def apply(path, req, events):
        return fn(_chunks(events), events)

    return apply


# -- response transforms ---------------------------------------------------------------------


def _unknown_model_ok(path: str, body):
    if isinstance(body, dict) and body.get("model", "").startswith(UNKNOWN):
        body["model"] = "inferno-tiny"  # silently serve the default model (Ollama/LocalAI)
    return body


def _role_every_chunk(chunks, _):
    for c in chunks:
        for ch in c["choices"]:
            ch.setdefault("delta", {})["role"] = "assistant"
    return _dump(chunks)


def _no_role(chunks, _):
    for c in chunks:
        for ch in c["choices"]:
            ch.get("delta", {}).pop("role", None)
    return _dump(chunks)


def _changing_ids(chunks, _):
    for i, c in enumerate(chunks):
        c["id"] = f"{c['id']}-{i}"
    return _dump(chunks)


def _finish_every_chunk(chunks, _):
    for c in chunks:
        for ch in c["choices"]:
            ch["finish_reason"] = ch.get("finish_reason") or "length"
    return _dump(chunks)


def _drop_usage_chunk(chunks, _):
    return _dump([c for c in chunks if c.get("choices")])


def _usage_everywhere(chunks, _):
    for c in chunks:
        c["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    return _dump(chunks)


def _hidden_error(chunks, _):
    error = {"error": {"message": "CUDA out of memory", "type": "server_error"}}
    return _dump([*chunks[:2], error])


def _drop_first_text(chunks, _):
    for c in chunks:
        for ch in c["choices"]:
            delta = ch.get("delta")
            if delta and delta.get("content"):
                delta["content"] = ""
                return _dump(chunks)
            if ch.get("text"):
                ch["text"] = ""
                return _dump(chunks)
    return _dump(chunks)


def _bad_usage(obj):
    if "usage" in obj:
        obj["usage"]["total_tokens"] = obj["usage"]["prompt_tokens"]
    return obj


def _stop_for_short_limits(path, req, status, obj):
    # Only small limits are misreported, so the suite's own 24-token probe still sees "length".
    if status != 200 or not isinstance(req, dict):
        return status, obj
    limit = min(req.get("max_tokens") or 99, req.get("max_completion_tokens") or 99)
    if limit <= 3:
        for ch in obj.get("choices", []):
            if ch.get("finish_reason") == "length":
                ch["finish_reason"] = "stop"
    return status, obj


def _tool_args_object(obj):
    for ch in obj["choices"]:
        for call in ch["message"].get("tool_calls") or []:
            try:
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
            except ValueError:
                call["function"]["arguments"] = {"raw": call["function"]["arguments"]}
    return obj


def _stream_tool_args_object(chunks, events):
    for chunk in chunks:
        for ch in chunk.get("choices", []):
            for call in (ch.get("delta") or {}).get("tool_calls") or []:
                fn = call.get("function") or {}
                if isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"])
                    except ValueError:
                        fn["arguments"] = {"raw": fn["arguments"]}
    return _dump(chunks)


def _drop_object(obj):
    obj.pop("object", None)
    return obj


def _created_string(obj):
    obj["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return obj


def _trim_top_logprobs(obj):
    for ch in obj["choices"]:
        for item in (ch.get("logprobs") or {}).get("content") or []:
            item["top_logprobs"] = item.get("top_logprobs", [])[:1]
    return obj


def _models_ollama(path, req, status, obj):
    if path.endswith("/models") and status == 200:
        return status, {"models": [{"name": m["id"]} for m in obj["data"]]}
    return status, obj


def _rotate_embeddings(path, req, status, obj):
    if path.endswith("/embeddings") and status == 200 and len(obj["data"]) > 1:
        vectors = [d["embedding"] for d in obj["data"]]
        vectors = vectors[1:] + vectors[:1]  # rotated: every vector lands on the wrong index
        for d, v in zip(obj["data"], vectors, strict=True):
            d["embedding"] = v
    return status, obj


def _flat_error(status, obj):
    return status, {"error": obj["error"]["message"], "code": status}


def _detail_422(status, obj):
    if status == 400:
        return 422, {"detail": [{"loc": ["body"], "msg": obj["error"]["message"]}]}
    return status, obj


def _error_500(status, obj):
    if status == 400:
        obj["error"]["type"] = "server_error"
        return 500, obj
    return status, obj


def _extra_fields(path, req, status, obj):
    if isinstance(obj, dict):
        obj["x_vendor"] = {"latency_ms": 3, "backend": "mock"}
    return status, obj


def _extra_chunk_fields(path, req, events):
    out = []
    for e in events:
        if e == "[DONE]":
            out.append(e)
            continue
        c = json.loads(e)
        c["x_vendor"] = {"t": 1}
        for ch in c.get("choices", []):
            ch["x_debug"] = None
        out.append(json.dumps(c))
    return out


# -- request transforms ----------------------------------------------------------------------


def _drop(*keys: str):
    def apply(path, body):
        for key in keys:
            body.pop(key, None)
        return body

    return apply


def _force(**values):
    def apply(path, body):
        if path.endswith("/chat/completions") or path.endswith("/completions"):
            body.update(values)
        return body

    return apply


def _random_seed(path, body):
    if "seed" in body:
        body["seed"] = random.randrange(1, 2**31)
    return body


def _no_validation(path, body):
    # Accepts out-of-range values by clamping them (vLLM-style silent fixing).
    if isinstance(body.get("temperature"), int | float) and body["temperature"] > 2:
        body["temperature"] = 2
    if isinstance(body.get("top_p"), int | float) and body["top_p"] > 1:
        body["top_p"] = 1
    return body


def _force_usage(path, body):
    if body.get("stream"):
        body["stream_options"] = {"include_usage": True}
    return body


# -- full overrides --------------------------------------------------------------------------


def _html_errors(method: str, path: str, raw: bytes) -> Reply | None:
    if "inferno-no-such" in path or (method == "GET" and path.endswith("/chat/completions")):
        page = b"<html><body><h1>404 Not Found</h1><hr>nginx</body></html>"
        return Reply(404, {"Content-Type": "text/html"}, page)
    return None


def _stall(method: str, path: str, raw: bytes) -> Reply | None:
    if method == "POST":
        time.sleep(8)  # longer than the run's --request-timeout
        return Reply(504, {"Content-Type": "text/plain"}, b"late")
    return None


def _crlf_frame(events: list[str]) -> Iterator[bytes]:
    yield b": keep-alive\r\n\r\n"
    for data in events:
        yield f"data: {data}\r\n\r\n".encode()


def _comment_frame(events: list[str]) -> Iterator[bytes]:
    yield b"retry: 3000\n\n"
    for data in events:
        yield b": ping\n\n"
        yield f"data: {data}\n\n".encode()
        yield b":\n\n"


def _no_done_frame(events: list[str]) -> Iterator[bytes]:
    yield from default_frame([e for e in events if e != "[DONE]"])


STREAM = "test_stream_framing_and_chunks"
CASES: tuple[Case, ...] = (
    Case(
        "missing-done",
        "llama-cpp-python, Ollama: stream ends without data: [DONE]",
        Mutation(frame=_no_done_frame),
        STREAM,
        "sse.done",
    ),
    Case(
        "unknown-model-200",
        "Ollama/LocalAI: unknown model served by the default one",
        Mutation(request=_unknown_model_ok),
        "unknown_model",
        "models.unknown-404",
    ),
    Case(
        "flat-error-envelope",
        "LocalAI/TGI: {'error': 'message'} instead of the envelope",
        Mutation(json=_on_error(_flat_error)),
        "test_error_row and chat-missing",
        "errors.",
    ),
    Case(
        "fastapi-422",
        "FastAPI-based servers: 422 {'detail': [...]} for validation errors",
        Mutation(json=_on_error(_detail_422)),
        "test_error_row and temperature",
        "errors.",
    ),
    Case(
        "500-on-bad-params",
        "vLLM/TGI: unhandled validation error becomes a 500",
        Mutation(json=_on_error(_error_500)),
        "test_error_row and top-p",
        "errors.5xx",
    ),
    Case(
        "accepts-out-of-range",
        "vLLM: silently clamps temperature instead of 400",
        Mutation(request=_no_validation),
        "test_error_row and temperature-high",
        "errors.",
    ),
    Case(
        "ignores-max-tokens",
        "Ollama (num_predict), LocalAI: max_tokens ignored",
        Mutation(request=_drop("max_tokens", "max_completion_tokens")),
        "test_token_limit_gives_length",
        "limit.honoured",
    ),
    Case(
        "ignores-stop",
        "llama.cpp server: stop ignored in chat",
        Mutation(request=_drop("stop")),
        "test_stop_sequence_cuts_output",
        "stop.honoured",
    ),
    Case(
        "ignores-n",
        "llama-cpp-python, Ollama: n > 1 silently gives one choice",
        Mutation(request=_force(n=1)),
        "test_n_choices",
        "chat.n",
    ),
    Case(
        "ignores-seed",
        "TGI/LocalAI: seed not forwarded to the sampler",
        Mutation(request=_random_seed),
        "test_same_seed",
        "chat.seed",
    ),
    Case(
        "stream-usage-missing",
        "vLLM < 0.5, Ollama: include_usage ignored",
        Mutation(
            events=_stream_map(_drop_usage_chunk),
        ),
        "test_stream_include_usage",
        "sse.usage",
    ),
    Case(
        "stream-usage-unrequested",
        "LiteLLM: usage chunk sent without include_usage",
        Mutation(request=_force_usage),
        STREAM,
        "sse.unrequested-usage",
    ),
    Case(
        "usage-on-every-chunk",
        "llama.cpp server: usage attached to every chunk",
        Mutation(events=_stream_map(_usage_everywhere)),
        "test_stream_include_usage",
        "sse.usage",
    ),
    Case(
        "changing-chunk-ids",
        "LocalAI/early vLLM: a new id per chunk",
        Mutation(events=_stream_map(_changing_ids)),
        STREAM,
        "sse.same-id",
    ),
    Case(
        "wrong-sse-content-type",
        "LocalAI/proxies: stream served as text/plain",
        Mutation(stream_content_type="text/plain"),
        STREAM,
        "sse.content-type",
    ),
    Case(
        "sse-as-json",
        "gateways: stream served as application/json",
        Mutation(stream_content_type="application/json"),
        STREAM,
        "sse.content-type",
    ),
    Case(
        "role-every-chunk",
        "LiteLLM/vLLM: delta.role repeated on every chunk",
        Mutation(events=_stream_map(_role_every_chunk)),
        STREAM,
        "sse.first-role",
    ),
    Case(
        "no-role-first-chunk",
        "Ollama: first delta lacks the role",
        Mutation(events=_stream_map(_no_role)),
        STREAM,
        "sse.first-role",
    ),
    Case(
        "finish-reason-every-chunk",
        "TGI: finish_reason on every chunk",
        Mutation(events=_stream_map(_finish_every_chunk)),
        STREAM,
        "sse.one-finish-reason",
    ),
    Case(
        "error-inside-200-stream",
        "vLLM/llama.cpp: OOM reported as a data event in a 200",
        Mutation(events=_stream_map(_hidden_error)),
        STREAM,
        "sse",
    ),
    Case(
        "stream-text-differs",
        "llama-cpp-python: first token dropped when streaming",
        Mutation(events=_stream_map(_drop_first_text)),
        "test_stream_text_equals",
        "sse.equivalence",
    ),
    Case(
        "endless-stream",
        "llama.cpp server: generation loop never ends the stream",
        Mutation(frame=endless),
        STREAM,
        "sse.endless",
    ),
    Case(
        "tool-arguments-object",
        "Ollama/LocalAI: function.arguments as an object",
        Mutation(json=_on_chat(_tool_args_object)),
        "test_forced_tool_call and not cut",
        "chat.tools.arguments",
    ),
    Case(
        "stream-tool-arguments-object",
        "vLLM/Ollama: streamed tool_calls with arguments as an object instead of string fragments",
        Mutation(events=_stream_map(_stream_tool_args_object)),
        "test_forced_tool_call and stream and not cut",
        "chat.tools.arguments",
    ),
    Case(
        "usage-arithmetic",
        "proxies: total_tokens not prompt + completion",
        Mutation(json=_on_chat(_bad_usage)),
        "test_chat_shape_and_usage",
        "usage.counts",
    ),
    Case(
        "stop-instead-of-length",
        "Ollama: finish_reason 'stop' when max_tokens cut the text",
        Mutation(json=_stop_for_short_limits),
        "test_token_limit_gives_length",
        "limit.finish-length",
    ),
    Case(
        "missing-object-field",
        "LocalAI: chat completion without 'object'",
        Mutation(json=_on_chat(_drop_object)),
        "test_chat_shape_and_usage",
        "schema.body",
    ),
    Case(
        "created-as-string",
        "custom servers: created as an ISO string",
        Mutation(json=_on_chat(_created_string)),
        "test_chat_shape_and_usage",
        "schema.body",
    ),
    Case(
        "top-logprobs-truncated",
        "vLLM: fewer top_logprobs than requested",
        Mutation(json=_on_chat(_trim_top_logprobs)),
        "test_logprobs_shape",
        "chat.logprobs",
    ),
    Case(
        "models-ollama-shape",
        "Ollama native: {'models': [...]} from /models",
        Mutation(json=_models_ollama),
        "test_list_models",
        "schema.body",
    ),
    Case(
        "embeddings-out-of-order",
        "LocalAI: batched vectors returned in the wrong order",
        Mutation(json=_rotate_embeddings),
        "test_batch_order",
        "embeddings.batch-order",
    ),
    Case(
        "html-errors",
        "nginx in front of the server: HTML 404 pages",
        Mutation(handle=_html_errors),
        "unknown_model",
        "errors.content-type",
    ),
    Case(
        "stalled-server",
        "overloaded servers: no answer at all",
        Mutation(handle=_stall),
        "test_chat_shape_and_usage",
        "http.transport",
        args=("--request-timeout", "2"),
    ),
    # Controls: legal variations a correct client must accept.
    Case(
        "control-passthrough",
        "the reference server behind an identity proxy",
        Mutation(),
        "test_stream or test_chat_shape or test_list_models",
        control=True,
    ),
    Case(
        "control-sse-comments",
        "SSE comments, retry fields and keep-alives between events",
        Mutation(frame=_comment_frame),
        "test_stream",
        control=True,
    ),
    Case(
        "control-crlf",
        "CRLF line endings in the event stream",
        Mutation(frame=_crlf_frame),
        "test_stream_framing",
        control=True,
    ),
    Case(
        "control-extra-fields",
        "unknown vendor fields in bodies and chunks",
        Mutation(json=_extra_fields, events=_extra_chunk_fields),
        "test_chat_shape or test_stream or test_models or test_embeddings and not dimensions",
        control=True,
    ),
    Case(
        "control-no-compression",
        "a server that never compresses",
        Mutation(strip_encoding=True),
        "test_compression",
        control=True,
        args=("--preset", "full"),
    ),
)
