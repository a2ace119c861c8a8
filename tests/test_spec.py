"""The spec is valid OpenAPI, loads in schemathesis, and its schemas accept and reject correctly."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import schemathesis
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from schemathesis.core.failures import FailureGroup

import specs

ERROR_STATUSES = ["400", "401", "404", "405", "413", "415", "429", "500", "503", "504", "507"]
OPERATIONS = {
    "listModels": ("GET", "/v1/models", False),
    "retrieveModel": ("GET", "/v1/models/{model}", False),
    "createChatCompletion": ("POST", "/v1/chat/completions", True),
    "createCompletion": ("POST", "/v1/completions", True),
    "createEmbedding": ("POST", "/v1/embeddings", False),
    "createResponse": ("POST", "/v1/responses", True),
    "countResponseInputTokens": ("POST", "/v1/responses/input_tokens", False),
    "compactResponse": ("POST", "/v1/responses/compact", False),
    "getResponse": ("GET", "/v1/responses/{response_id}", False),
    "deleteResponse": ("DELETE", "/v1/responses/{response_id}", False),
    "listResponseInputItems": ("GET", "/v1/responses/{response_id}/input_items", False),
    "getHealth": ("GET", "/health", False),
    "getMetrics": ("GET", "/metrics", False),
}

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"model": "m", "prompt": "Once upon"}
EMBEDDING = {"model": "m", "input": "hello"}
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
MESSAGE = {"role": "assistant", "content": "Hello", "refusal": None}
CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": MESSAGE, "finish_reason": "stop", "logprobs": None}],
    "usage": USAGE,
}
CHAT_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
}
COMPLETION_RESPONSE = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "text": " a time", "finish_reason": "length", "logprobs": None}],
    "usage": USAGE,
}
EMBEDDING_RESPONSE = {
    "object": "list",
    "model": "m",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}
MODEL = {"id": "inferno-tiny", "object": "model", "created": 0, "owned_by": "inferno"}
ERROR = {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}


def merged(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


def with_choice(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["choices"][0].update(changes)
    return out


def without_choice_key(base: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    del out["choices"][0][key]
    return out


def is_valid(validator: Draft202012Validator, instance: Any) -> bool:
    return not list(validator.iter_errors(instance))


# ------------------------------------------------------------------------- the document


def test_document_is_openapi_31_apart_from_item_schema() -> None:
    # openapi-spec-validator knows 3.1 only; `itemSchema` is the 3.2 per-event keyword for SSE
    # (schemathesis reads it), so the 3.1 meta-schema rejects exactly that keyword. A copy where
    # it becomes `schema` (which under 3.1 also describes one event) must validate cleanly.
    doc = copy.deepcopy(specs.load_spec())
    assert doc["openapi"].startswith("3.1")
    with pytest.raises(Exception, match="itemSchema"):
        validate_openapi(copy.deepcopy(doc))
    renamed = 0
    for item in doc["paths"].values():
        for op in item.values():
            sse = op["responses"]["200"]["content"].get("text/event-stream")
            if sse is not None:
                sse["schema"] = sse.pop("itemSchema")
                renamed += 1
    assert renamed == 3
    validate_openapi(doc)


def test_document_uses_31_null_types_not_nullable() -> None:
    text = specs.spec_path().read_text(encoding="utf-8")
    assert "nullable" not in text
    assert specs.load_spec()["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert "x-inferno-strict" in specs.load_spec()["info"]["description"]


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(str(specs.spec_path()))
    labels = {op.ok().label for op in schema.get_all_operations()}
    assert labels == {f"{method} {path}" for method, path, _ in OPERATIONS.values()}


def test_operations_match_the_plan() -> None:
    found = {op.operation_id: (op.method, op.path, op.streaming) for op in specs.operations()}
    assert found == OPERATIONS


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_every_operation_documents_errors_with_the_envelope(operation_id: str, status: str) -> None:
    validator = specs.response_validator(operation_id, int(status))
    assert is_valid(validator, ERROR)
    if not (operation_id == "getHealth" and status == "503"):  # that one also allows a Health body
        assert not is_valid(validator, {"status": "loading"})


def test_bearer_auth_is_declared_but_optional() -> None:
    doc = specs.load_spec()
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearerAuth": []}, {}]


# ------------------------------------------------------------------------------ requests

CHAT_GOOD = [
    CHAT,
    merged(CHAT, temperature=2, top_p=0, n=128, presence_penalty=-2, frequency_penalty=2),
    merged(CHAT, temperature=None, max_tokens=None, seed=None, stop=None, stream_options=None),
    merged(CHAT, logprobs=True, top_logprobs=20, stop=["a", "b", "c", "d"], seed=42),
    merged(CHAT, max_tokens=1, max_completion_tokens=2_000_000, stream=True),
    merged(CHAT, stream_options={"include_usage": True}, user="u", logit_bias={"50": -100}),
    merged(CHAT, response_format={"type": "json_object"}),
    merged(
        CHAT, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
    ),
    merged(CHAT, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    merged(CHAT, tool_choice="required"),
    merged(CHAT, tool_choice={"type": "function", "function": {"name": "f"}}),
    merged(CHAT, x_vendor_extension={"anything": 1}),
    merged(
        CHAT,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c"},
        ],
    ),
]
CHAT_BAD = {
    "temperature 2.1": merged(CHAT, temperature=2.1),
    "temperature -0.1": merged(CHAT, temperature=-0.1),
    "top_p 1.5": merged(CHAT, top_p=1.5),
    "n 0": merged(CHAT, n=0),
    "n 129": merged(CHAT, n=129),
    "presence_penalty 2.5": merged(CHAT, presence_penalty=2.5),
    "frequency_penalty -2.5": merged(CHAT, frequency_penalty=-2.5),
    "top_logprobs 21": merged(CHAT, top_logprobs=21),
    "5 stop strings": merged(CHAT, stop=["a", "b", "c", "d", "e"]),
    "max_tokens 0": merged(CHAT, max_tokens=0),
    "max_completion_tokens 0": merged(CHAT, max_completion_tokens=0),
    "no model": {"messages": CHAT["messages"]},
    "no messages": {"model": "m"},
    "empty messages": merged(CHAT, messages=[]),
    "unknown role": merged(CHAT, messages=[{"role": "robot", "content": "hi"}]),
    "user without content": merged(CHAT, messages=[{"role": "user"}]),
    "tool without tool_call_id": merged(CHAT, messages=[{"role": "tool", "content": "x"}]),
    "image part": merged(CHAT, messages=[{"role": "user", "content": [{"type": "image_url"}]}]),
    "response_format xml": merged(CHAT, response_format={"type": "xml"}),
    "tool_choice maybe": merged(CHAT, tool_choice="maybe"),
    "stream as string": merged(CHAT, stream="yes"),
    "max_tokens float": merged(CHAT, max_tokens=1.5),
}
COMPLETION_GOOD = [
    COMPLETION,
    merged(COMPLETION, prompt=["a", "b"]),
    merged(COMPLETION, prompt=[1, 2, 3]),
    merged(COMPLETION, prompt=[[1, 2], [3]]),
    merged(COMPLETION, echo=True, logprobs=5, suffix="end", best_of=2, n=2, stream=True),
    merged(COMPLETION, logprobs=0, max_tokens=16, stop="\n", seed=1),
]
COMPLETION_BAD = {
    "logprobs 6": merged(COMPLETION, logprobs=6),
    "best_of 21": merged(COMPLETION, best_of=21),
    "max_tokens 0": merged(COMPLETION, max_tokens=0),
    "temperature 2.1": merged(COMPLETION, temperature=2.1),
    "top_p 1.5": merged(COMPLETION, top_p=1.5),
    "n 129": merged(COMPLETION, n=129),
    "5 stop strings": merged(COMPLETION, stop=list("abcde")),
    "empty token array": merged(COMPLETION, prompt=[[]]),
    "mixed prompt": merged(COMPLETION, prompt=["a", 1]),
    "no prompt": {"model": "m"},
}
EMBEDDING_GOOD = [
    EMBEDDING,
    merged(EMBEDDING, input=["a", "b"], encoding_format="base64", dimensions=1),
    merged(EMBEDDING, input=[1, 2, 3], encoding_format="float"),
    merged(EMBEDDING, input=[[1, 2], [3]], user="u"),
]
EMBEDDING_BAD = {
    "empty string": merged(EMBEDDING, input=""),
    "empty array": merged(EMBEDDING, input=[]),
    "array with empty string": merged(EMBEDDING, input=["a", ""]),
    "empty token array": merged(EMBEDDING, input=[[]]),
    "2049 inputs": merged(EMBEDDING, input=["a"] * 2049),
    "encoding hex": merged(EMBEDDING, encoding_format="hex"),
    "dimensions 0": merged(EMBEDDING, dimensions=0),
    "no input": {"model": "m"},
    "input number": merged(EMBEDDING, input=1.5),
}


@pytest.mark.parametrize("profile", specs.PROFILES)
@pytest.mark.parametrize(
    ("operation_id", "body"),
    [("createChatCompletion", b) for b in CHAT_GOOD]
    + [("createCompletion", b) for b in COMPLETION_GOOD]
    + [("createEmbedding", b) for b in EMBEDDING_GOOD],
)
def test_good_requests(operation_id: str, body: dict[str, Any], profile: str) -> None:
    assert is_valid(specs.request_validator(operation_id, profile), body)


@pytest.mark.parametrize("profile", specs.PROFILES)
@pytest.mark.parametrize(
    ("operation_id", "body"),
    [pytest.param("createChatCompletion", b, id=f"chat {k}") for k, b in CHAT_BAD.items()]
    + [pytest.param("createCompletion", b, id=f"completion {k}") for k, b in COMPLETION_BAD.items()]
    + [pytest.param("createEmbedding", b, id=f"embedding {k}") for k, b in EMBEDDING_BAD.items()],
)
def test_bad_requests(operation_id: str, body: dict[str, Any], profile: str) -> None:
    assert not is_valid(specs.request_validator(operation_id, profile), body)


@pytest.mark.parametrize(
    ("operation_id", "body"),
    [
        ("createChatCompletion", merged(CHAT, max_tokens=3_000_000)),
        ("createChatCompletion", merged(CHAT, max_completion_tokens=3_000_000)),
        ("createCompletion", merged(COMPLETION, max_tokens=3_000_000)),
        ("createEmbedding", merged(EMBEDDING, input="x" * 9000)),
        ("createEmbedding", merged(EMBEDDING, input=["ok", "x" * 9000])),
    ],
)
def test_strict_bounds_apply_only_in_strict_profile(
    operation_id: str, body: dict[str, Any]
) -> None:
    assert is_valid(specs.request_validator(operation_id, "openai"), body)
    assert not is_valid(specs.request_validator(operation_id, "strict"), body)


def test_strict_profile_keeps_its_limits_inclusive() -> None:
    strict = specs.request_validator("createChatCompletion", "strict")
    assert is_valid(strict, merged(CHAT, max_tokens=2_000_000))
    assert is_valid(
        specs.request_validator("createEmbedding", "strict"), merged(EMBEDDING, input="x" * 8000)
    )


# ----------------------------------------------------------------------------- responses

RESPONSE_GOOD = [
    ("createChatCompletion", CHAT_RESPONSE),
    (
        "createChatCompletion",
        merged(CHAT_RESPONSE, unknown_vendor_field={"x": 1}, system_fingerprint="f"),
    ),
    (
        "createChatCompletion",
        with_choice(
            CHAT_RESPONSE,
            message={
                **MESSAGE,
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    }
                ],
            },
            finish_reason="tool_calls",
        ),
    ),
    (
        "createChatCompletion",
        with_choice(
            CHAT_RESPONSE,
            logprobs={
                "content": [
                    {
                        "token": "Hi",
                        "logprob": -0.1,
                        "bytes": [72, 105],
                        "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": None}],
                    }
                ],
                "refusal": None,
            },
        ),
    ),
    ("createCompletion", COMPLETION_RESPONSE),
    (
        "createCompletion",
        with_choice(
            COMPLETION_RESPONSE,
            logprobs={
                "tokens": ["a"],
                "token_logprobs": [-0.5],
                "top_logprobs": [{"a": -0.5}],
                "text_offset": [0],
            },
            extra_field=True,
        ),
    ),
    ("createEmbedding", EMBEDDING_RESPONSE),
    (
        "createEmbedding",
        merged(
            EMBEDDING_RESPONSE,
            data=[{"object": "embedding", "index": 0, "embedding": "zczMPc3MTL4="}],
        ),
    ),
    ("listModels", {"object": "list", "data": [MODEL]}),
    ("retrieveModel", merged(MODEL, extra="ok")),
    ("getHealth", {"status": "ok", "model": "inferno-tiny"}),
    ("getMetrics", "# HELP x\nx 1\n"),
]
RESPONSE_BAD = {
    "chat usage=None": ("createChatCompletion", merged(CHAT_RESPONSE, usage=None)),
    "chat choice without logprobs": (
        "createChatCompletion",
        without_choice_key(CHAT_RESPONSE, "logprobs"),
    ),
    "chat choice without finish_reason": (
        "createChatCompletion",
        without_choice_key(CHAT_RESPONSE, "finish_reason"),
    ),
    "chat finish_reason null": (
        "createChatCompletion",
        with_choice(CHAT_RESPONSE, finish_reason=None),
    ),
    "chat message without refusal": (
        "createChatCompletion",
        with_choice(CHAT_RESPONSE, message={"role": "assistant", "content": "x"}),
    ),
    "chat message without content": (
        "createChatCompletion",
        with_choice(CHAT_RESPONSE, message={"role": "assistant", "refusal": None}),
    ),
    "chat tool arguments object": (
        "createChatCompletion",
        with_choice(
            CHAT_RESPONSE,
            message={
                **MESSAGE,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": {"a": 1}},
                    }
                ],
            },
        ),
    ),
    "chat wrong object": (
        "createChatCompletion",
        merged(CHAT_RESPONSE, object="chat.completion.chunk"),
    ),
    "chat usage missing total": (
        "createChatCompletion",
        merged(CHAT_RESPONSE, usage={"prompt_tokens": 1, "completion_tokens": 1}),
    ),
    "completion without text": (
        "createCompletion",
        without_choice_key(COMPLETION_RESPONSE, "text"),
    ),
    "completion finish_reason null": (
        "createCompletion",
        with_choice(COMPLETION_RESPONSE, finish_reason=None),
    ),
    "embedding without usage": (
        "createEmbedding",
        {k: v for k, v in EMBEDDING_RESPONSE.items() if k != "usage"},
    ),
    "embedding of strings": (
        "createEmbedding",
        merged(EMBEDDING_RESPONSE, data=[{"object": "embedding", "index": 0, "embedding": ["a"]}]),
    ),
    "model created as string": ("retrieveModel", merged(MODEL, created="0")),
    "model list wrong object": ("listModels", {"object": "models", "data": []}),
    "health without status": ("getHealth", {"ok": True}),
    "metrics as json": ("getMetrics", {"x": 1}),
}


@pytest.mark.parametrize("profile", specs.PROFILES)
@pytest.mark.parametrize(("operation_id", "body"), RESPONSE_GOOD)
def test_good_responses(operation_id: str, body: Any, profile: str) -> None:
    assert is_valid(specs.response_validator(operation_id, 200, profile), body)


@pytest.mark.parametrize("profile", specs.PROFILES)
@pytest.mark.parametrize(("operation_id", "body"), RESPONSE_BAD.values(), ids=RESPONSE_BAD.keys())
def test_bad_responses(operation_id: str, body: Any, profile: str) -> None:
    assert not is_valid(specs.response_validator(operation_id, 200, profile), body)


COMPLETION_CHUNK = with_choice(merged(COMPLETION_RESPONSE, usage=None), finish_reason=None)
CHUNKS_GOOD = [
    ("createChatCompletion", CHAT_CHUNK),
    ("createChatCompletion", with_choice(CHAT_CHUNK, delta={}, finish_reason="length", extra=1)),
    ("createChatCompletion", merged(CHAT_CHUNK, choices=[], usage=USAGE)),
    (
        "createChatCompletion",
        with_choice(
            CHAT_CHUNK,
            delta={
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            },
        ),
    ),
    ("createCompletion", COMPLETION_CHUNK),
    ("createCompletion", merged(COMPLETION_CHUNK, choices=[], usage=USAGE)),
]
CHUNKS_BAD = {
    "chat chunk without finish_reason": (
        "createChatCompletion",
        without_choice_key(CHAT_CHUNK, "finish_reason"),
    ),
    "chat chunk without delta": ("createChatCompletion", without_choice_key(CHAT_CHUNK, "delta")),
    "chat chunk wrong object": (
        "createChatCompletion",
        merged(CHAT_CHUNK, object="chat.completion"),
    ),
    "chat chunk bad finish_reason": (
        "createChatCompletion",
        with_choice(CHAT_CHUNK, finish_reason="eos"),
    ),
    "tool call chunk without index": (
        "createChatCompletion",
        with_choice(CHAT_CHUNK, delta={"tool_calls": [{"id": "c"}]}),
    ),
    "completion chunk without text": (
        "createCompletion",
        without_choice_key(COMPLETION_CHUNK, "text"),
    ),
    "chat response is not a chunk": ("createChatCompletion", CHAT_RESPONSE),
}


@pytest.mark.parametrize(("operation_id", "chunk"), CHUNKS_GOOD)
def test_good_stream_chunks(operation_id: str, chunk: dict[str, Any]) -> None:
    assert is_valid(specs.stream_event_validator(operation_id), chunk)


@pytest.mark.parametrize(("operation_id", "chunk"), CHUNKS_BAD.values(), ids=CHUNKS_BAD.keys())
def test_bad_stream_chunks(operation_id: str, chunk: dict[str, Any]) -> None:
    assert not is_valid(specs.stream_event_validator(operation_id), chunk)


ERRORS_BAD = {
    "bare object": ERROR["error"],
    "missing param": {"error": {"message": "m", "type": "t", "code": None}},
    "missing code": {"error": {"message": "m", "type": "t", "param": None}},
    "null message": {"error": {"message": None, "type": "t", "param": None, "code": None}},
    "null type": {"error": {"message": "m", "type": None, "param": None, "code": None}},
    "integer code": {"error": {"message": "m", "type": "t", "param": None, "code": 404}},
    "string error": {"error": "not found"},
}


def test_error_envelope_good() -> None:
    validator = specs.error_validator()
    assert is_valid(validator, ERROR)
    full = {"error": {"message": "m", "type": "t", "param": "model", "code": "model_not_found"}}
    assert is_valid(validator, merged(full, request_id="r1"))


@pytest.mark.parametrize("body", ERRORS_BAD.values(), ids=ERRORS_BAD.keys())
def test_error_envelope_bad(body: Any) -> None:
    assert not is_valid(specs.error_validator(), body)


# -------------------------------------------------------------------------- loader API


def test_schema_for_is_self_contained_and_profiled() -> None:
    def refs(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    openai = specs.schema_for("CreateChatCompletionRequest")
    strict = specs.schema_for("CreateChatCompletionRequest", "strict")
    assert not list(refs(openai))
    assert "x-inferno-strict" not in json.dumps(openai) + json.dumps(strict)
    assert "maximum" not in openai["properties"]["max_tokens"]
    assert strict["properties"]["max_tokens"]["maximum"] == 2_000_000
    body = merged(CHAT, max_tokens=3_000_000)
    assert is_valid(Draft202012Validator(openai), body)
    assert not is_valid(Draft202012Validator(strict), body)
    with pytest.raises(KeyError):
        specs.schema_for("NoSuchSchema")


def test_loader_rejects_misuse() -> None:
    with pytest.raises(ValueError, match="profile"):
        specs.request_validator("createChatCompletion", "lenient")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream"):
        specs.stream_event_validator("createEmbedding")
    with pytest.raises(ValueError, match="request body"):
        specs.request_validator("listModels")
    with pytest.raises(KeyError):
        specs.response_validator("createChatCompletion", 418)
    with pytest.raises(KeyError):
        specs.operation("deleteEverything")


def test_load_spec_is_cached_and_unaltered_by_profiles() -> None:
    specs.request_validator("createEmbedding", "strict")
    assert specs.load_spec() is specs.load_spec()
    assert "x-inferno-strict" in json.dumps(specs.load_spec())


# ------------------------------------------------------- schemathesis reads the SSE events


class _SseHandler(BaseHTTPRequestHandler):
    chunks: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        events = [f"data: {json.dumps(c)}\n\n" for c in self.chunks] + ["data: [DONE]\n\n"]
        payload = "".join(events).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.mark.parametrize(
    ("chunks", "ok"),
    [
        ([CHAT_CHUNK, merged(CHAT_CHUNK, choices=[], usage=USAGE)], True),
        ([without_choice_key(CHAT_CHUNK, "delta")], False),
    ],
)
def test_schemathesis_validates_each_sse_event(chunks: list[dict[str, Any]], ok: bool) -> None:
    handler = type("Handler", (_SseHandler,), {"chunks": chunks})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        schema = schemathesis.openapi.from_path(str(specs.spec_path()))
        case = schema["/v1/chat/completions"]["POST"].Case(body=merged(CHAT, stream=True))
        response = case.call(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=10)
        checks = [schemathesis.checks.response_schema_conformance]
        if ok:
            case.validate_response(response, checks=checks)
        else:
            with pytest.raises(FailureGroup) as caught:
                case.validate_response(response, checks=checks)
            titles = [failure.title for failure in caught.value.exceptions]
            assert titles == ["SSE event violates schema"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
