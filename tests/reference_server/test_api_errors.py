"""Every error row: status, envelope, type, param and code, always JSON and never HTML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from inferno.launcher import reference_server_process
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    HELLO,
    MODEL,
    chat_body,
    client,
    completion_body,
    error_body,
    json_body,
    sdk_client,
)

OPS = {CHAT: "createChatCompletion", COMPLETIONS: "createCompletion", EMBEDDINGS: "createEmbedding"}
LIMITS = ["--n-ctx", "64", "--max-body-bytes", "1000", "--max-budget-tokens", "300"]
LONG = "Hello " * 80  # about 80 tokens: beyond a 64-token context, well inside 1000 bytes


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


@pytest.fixture(scope="module")
def limited() -> Iterator[httpx.Client]:
    with (
        reference_server_process(["--model", "tiny", *LIMITS]) as server,
        client(server.base_url) as c,
    ):
        yield c


def embedding_body(**overrides: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": "Hello", **overrides}


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != field}


# ----------------------------------------------------------------- 400: request validation

VALIDATION = [
    (CHAT, chat_body(temperature=3), "temperature"),
    (CHAT, chat_body(temperature=-0.5), "temperature"),
    (CHAT, chat_body(top_p=1.5), "top_p"),
    (CHAT, chat_body(n=0), "n"),
    (CHAT, chat_body(n=129), "n"),
    (CHAT, chat_body(presence_penalty=2.5), "presence_penalty"),
    (CHAT, chat_body(frequency_penalty=-2.5), "frequency_penalty"),
    (CHAT, chat_body(logprobs=True, top_logprobs=21), "top_logprobs"),
    (CHAT, chat_body(stop=["a", "b", "c", "d", "e"]), "stop"),
    (CHAT, chat_body(max_tokens=0), "max_tokens"),
    (CHAT, chat_body(max_tokens=2_000_001), "max_tokens"),  # the strict profile's bound
    (CHAT, chat_body(max_completion_tokens=0), "max_completion_tokens"),
    (CHAT, chat_body(messages=[]), "messages"),
    (CHAT, without(chat_body(), "messages"), "messages"),
    (CHAT, without(chat_body(), "model"), "model"),
    (CHAT, chat_body(model=42), "model"),
    (CHAT, chat_body(stream="yes"), "stream"),
    (CHAT, chat_body(seed="7"), "seed"),
    (CHAT, chat_body(response_format={"type": "xml"}), "response_format"),
    (CHAT, chat_body(messages=[{"role": "robot", "content": "hi"}]), "messages[0]"),
    (CHAT, chat_body(messages=[{"content": "hi"}]), "messages[0]"),
    (COMPLETIONS, without(completion_body(), "prompt"), "prompt"),
    (COMPLETIONS, without(completion_body(), "model"), "model"),
    (COMPLETIONS, completion_body(logprobs=6), "logprobs"),
    (COMPLETIONS, completion_body(max_tokens=0), "max_tokens"),
    (COMPLETIONS, completion_body(temperature=2.5), "temperature"),
    (COMPLETIONS, completion_body(best_of=21), "best_of"),
    (COMPLETIONS, completion_body(prompt=[[]]), "prompt[0]"),
    (EMBEDDINGS, without(embedding_body(), "input"), "input"),
    (EMBEDDINGS, without(embedding_body(), "model"), "model"),
    (EMBEDDINGS, embedding_body(encoding_format="hex"), "encoding_format"),
    (EMBEDDINGS, embedding_body(dimensions=0), "dimensions"),
]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    VALIDATION,
    ids=[f"{path.rsplit('/', 1)[-1]}-{param}-{i}" for i, (path, _, param) in enumerate(VALIDATION)],
)
def test_invalid_body_is_400_naming_the_field(
    http: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    error_body(http.post(path, json=body), 400, OPS[path], param=param)


def test_unsupported_content_part_is_400_naming_it(http: httpx.Client) -> None:
    parts = [{"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}]
    response = http.post(CHAT, json=chat_body(messages=[{"role": "user", "content": parts}]))
    error = error_body(response, 400, OPS[CHAT])
    assert (error["param"] or "").startswith("messages[0]"), error


# ------------------------------------------------------------------ 400: not a JSON object

MALFORMED = [b"{bad json", b"[1, 2]", b'"text"', b"42", b"null", b"", b'{"model": "\xff"}']


@pytest.mark.parametrize("path", list(OPS))
@pytest.mark.parametrize("raw", MALFORMED, ids=lambda raw: repr(raw)[2:12])
def test_malformed_or_non_object_body_is_400(http: httpx.Client, path: str, raw: bytes) -> None:
    response = http.post(path, content=raw, headers={"content-type": "application/json"})
    error_body(response, 400, OPS[path])


NAN = pytest.param("NaN")


@pytest.mark.parametrize("field", ["temperature", "top_p", "presence_penalty", "frequency_penalty"])
@pytest.mark.parametrize("constant", [NAN, "Infinity", "-Infinity"])
def test_non_json_number_constants_are_400(http: httpx.Client, field: str, constant: str) -> None:
    raw = (
        '{"model": "inferno-tiny", "messages": [{"role": "user", "content": "Hi"}], '
        f'"max_tokens": 2, "{field}": {constant}}}'
    )
    response = http.post(CHAT, content=raw, headers={"content-type": "application/json"})
    error_body(response, 400, OPS[CHAT])


# ----------------------------------------------------------------------------- 404 / 405


@pytest.mark.parametrize(
    ("path", "body"),
    [(CHAT, chat_body()), (COMPLETIONS, completion_body()), (EMBEDDINGS, embedding_body())],
)
def test_unknown_model_is_404_model_not_found(
    http: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = http.post(path, json={**body, "model": "no-such-model"})
    error_body(response, 404, OPS[path], code="model_not_found", param="model")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nope"), ("POST", "/v1/chat/completion"), ("GET", "/"), ("POST", "/v2/models")],
)
def test_unknown_route_is_404(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={"model": MODEL})
    error_body(response, 404)


WRONG_METHODS = [
    ("GET", CHAT, "createChatCompletion"),
    ("PUT", CHAT, "createChatCompletion"),
    ("GET", COMPLETIONS, "createCompletion"),
    ("DELETE", EMBEDDINGS, "createEmbedding"),
    ("POST", "/v1/models", "listModels"),
    ("DELETE", f"/v1/models/{MODEL}", "retrieveModel"),
    ("POST", "/health", "getHealth"),
    ("PATCH", "/metrics", "getMetrics"),
]


@pytest.mark.parametrize(("method", "path", "operation_id"), WRONG_METHODS)
def test_wrong_method_is_405(http: httpx.Client, method: str, path: str, operation_id: str) -> None:
    error_body(http.request(method, path), 405, operation_id)


# ---------------------------------------------------------------------------------- 415


@pytest.mark.parametrize("path", list(OPS))
@pytest.mark.parametrize(
    "media", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
def test_non_json_content_type_is_415(http: httpx.Client, path: str, media: str) -> None:
    response = http.post(path, content=b'{"model": "x"}', headers={"content-type": media})
    error_body(response, 415, OPS[path])


def test_json_with_charset_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        CHAT,
        content=b'{"model": "inferno-tiny", "messages": [{"role": "user", "content": "Hi"}], '
        b'"max_tokens": 2}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    json_body(response, "createChatCompletion")


# ---------------------------------------------------------------- 400: context too long


def test_prompt_beyond_the_context_is_400_on_every_route(http: httpx.Client) -> None:
    huge = "Hello " * 1100  # more tokens than the tiny model's 1024-token context
    rows = [
        (CHAT, chat_body(messages=[{"role": "user", "content": huge}]), "messages"),
        (CHAT, chat_body(messages=[{"role": "user", "content": huge}], stream=True), "messages"),
        (COMPLETIONS, completion_body(prompt=huge), "prompt"),
        (COMPLETIONS, completion_body(prompt=huge, stream=True), "prompt"),
        (EMBEDDINGS, embedding_body(input=huge), "input"),
    ]
    for path, body, param in rows:
        error = error_body(
            http.post(path, json=body), 400, OPS[path], code="context_length_exceeded"
        )
        assert error["param"] == param, (path, error)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (CHAT, chat_body(messages=[{"role": "user", "content": LONG}]), "messages"),
        (CHAT, chat_body(messages=[{"role": "user", "content": LONG}], stream=True), "messages"),
        (COMPLETIONS, completion_body(prompt=LONG), "prompt"),
        (COMPLETIONS, completion_body(prompt=LONG, stream=True), "prompt"),
        (EMBEDDINGS, embedding_body(input=LONG), "input"),
    ],
    ids=["chat", "chat-stream", "completions", "completions-stream", "embeddings"],
)
def test_n_ctx_flag_bounds_the_prompt(
    limited: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    response = limited.post(path, json=body)
    error_body(response, 400, OPS[path], code="context_length_exceeded", param=param)


def test_n_ctx_flag_caps_the_completion(limited: httpx.Client) -> None:
    prompt = "Hello " * 40
    body = json_body(
        limited.post(COMPLETIONS, json=completion_body(prompt=prompt, max_tokens=60)),
        "createCompletion",
    )
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["total_tokens"] <= 64


# ------------------------------------------------------------------------ 413 and 507


def test_body_within_the_limit_is_served(limited: httpx.Client) -> None:
    body = chat_body(max_tokens=2, user="x" * 800)
    response = limited.post(CHAT, json=body)
    assert len(response.request.content) <= 1000
    json_body(response, "createChatCompletion")


def test_body_over_the_limit_is_413(limited: httpx.Client) -> None:
    body = chat_body(user="x" * 2000)
    error_body(limited.post(CHAT, json=body), 413, "createChatCompletion")


def test_chunked_body_over_the_limit_is_413(limited: httpx.Client) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "inferno-tiny", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"x" * 100
        yield b'"}]}'

    response = limited.post(CHAT, content=pieces(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    error_body(response, 413, "createChatCompletion")


def test_work_beyond_the_token_budget_is_507(limited: httpx.Client) -> None:
    response = limited.post(CHAT, json=chat_body(n=10, max_tokens=40))
    error_body(response, 507, "createChatCompletion", code="insufficient_memory")
    json_body(limited.post(CHAT, json=chat_body(max_tokens=2)), "createChatCompletion")


def test_sdk_maps_413_and_507(limited: httpx.Client) -> None:
    sdk = sdk_client(limited.base_url)
    with pytest.raises(openai.APIStatusError) as too_large:
        sdk.chat.completions.create(model=MODEL, messages=HELLO, user="x" * 2000)
    error_body(too_large.value.response, 413, OPS[CHAT])
    with pytest.raises(openai.InternalServerError) as no_memory:
        sdk.chat.completions.create(model=MODEL, messages=HELLO, n=10, max_tokens=40)
    error_body(no_memory.value.response, 507, OPS[CHAT], code="insufficient_memory")
    assert no_memory.value.code == "insufficient_memory"


def test_server_keeps_serving_after_errors(http: httpx.Client) -> None:
    for raw in MALFORMED:
        response = http.post(CHAT, content=raw, headers={"content-type": "application/json"})
        error_body(response, 400, OPS[CHAT])
    assert http.get("/health").status_code == 200
    json_body(http.post(CHAT, json=chat_body(max_tokens=2)), "createChatCompletion")
