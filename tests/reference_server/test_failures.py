"""The failure table against a real server: injected inference failures (500), token budgets over
the configured limit (507) and hostile input (4xx) — each answered with the error envelope, and
each leaving the server serving the next request."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import specs
from tests.reference_server._faulty_server import (
    FAIL_DECODE,
    FAIL_LATER,
    FAIL_NOW,
    MODEL_ID,
    chat_body,
    faulty_server,
    parse_sse,
    read_until,
)

CHAT, COMPLETIONS, EMBEDDINGS = "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
BUDGET = 100
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    args = ["--max-budget-tokens", str(BUDGET)]
    with faulty_server(args, inference_error=1, no_eos=1) as server:
        yield server.base_url


@pytest.fixture(autouse=True)
def _still_serving(base_url: str) -> Iterator[None]:
    """After every abuse the server must answer a normal request normally."""
    yield
    response = httpx.post(base_url + CHAT, json=chat_body("are you there", 3), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]


def _envelope(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    errors = sorted(specs.error_validator().iter_errors(body), key=str)
    assert not errors, f"{body!r}: {errors[0].message}"
    return body["error"]


# -- 500: inference failure --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat_body(f"please {FAIL_NOW}", 5)),
        (CHAT, chat_body(f"please {FAIL_NOW}", 5, stream=True)),
        (COMPLETIONS, {"model": MODEL_ID, "prompt": f"please {FAIL_NOW}", "max_tokens": 5}),
        (CHAT, chat_body(f"please {FAIL_LATER}", 8)),
        (CHAT, chat_body(f"please {FAIL_DECODE}", 8)),
    ],
    ids=[
        "chat",
        "chat-stream-before-first-token",
        "completions",
        "chat-after-some-tokens",
        "chat-decode-fails-after-some-tokens",
    ],
)
def test_inference_failure_is_a_500_envelope(
    base_url: str, path: str, body: dict[str, Any]
) -> None:
    response = httpx.post(base_url + path, json=body, timeout=30)
    error = _envelope(response, 500)
    assert "inference failed" in error["message"]
    assert error["type"] == "server_error"


@pytest.mark.parametrize("marker", [FAIL_LATER, FAIL_DECODE], ids=["sampler", "decode"])
def test_inference_failure_mid_stream_ends_the_stream_with_an_error_event(
    base_url: str, marker: str
) -> None:
    body = chat_body(f"please {marker}", 8, stream=True)
    response = httpx.post(base_url + CHAT, json=body, timeout=30)
    # Tokens were already sent, so the status is 200; the failure is reported in the stream.
    assert response.status_code == 200
    data = [i for i in parse_sse(response.text) if i.kind == "data"]
    # The error is the last event, with no [DONE]: the stream must not look complete.
    assert all(i.text != "[DONE]" for i in data), data
    errors = [i.json() for i in data if "error" in i.json()]
    assert len(errors) == 1, data
    assert data[-1].json() == errors[0]
    assert not list(specs.error_validator().iter_errors(errors[0]))
    assert "inference failed" in errors[0]["error"]["message"]
    validator = specs.stream_event_validator("createChatCompletion")
    for item in data[:-1]:
        if "error" not in item.json():
            validator.validate(item.json())


# -- 507: a token budget the server is not configured to hold --------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat_body("four long answers", 50, n=4)),
        (CHAT, chat_body("four long answers", 50, n=4, stream=True)),
        (COMPLETIONS, {"model": MODEL_ID, "prompt": "four", "max_tokens": 50, "n": 4}),
        (EMBEDDINGS, {"model": MODEL_ID, "input": ["a sentence of several tokens"] * 30}),
    ],
    ids=["chat", "chat-stream", "completions", "embeddings-batch"],
)
def test_budget_over_the_limit_is_a_507_envelope(
    base_url: str, path: str, body: dict[str, Any]
) -> None:
    error = _envelope(httpx.post(base_url + path, json=body, timeout=30), 507)
    assert error["code"] == "insufficient_memory"
    assert error["type"] == "server_error"


def test_budget_within_the_limit_is_served(base_url: str) -> None:
    response = httpx.post(base_url + CHAT, json=chat_body("two", 20, n=2), timeout=30)
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == 2
    small = {"model": MODEL_ID, "input": ["a few tokens", "a few more"]}
    assert httpx.post(base_url + EMBEDDINGS, json=small, timeout=30).status_code == 200


# -- hostile input -------------------------------------------------------------------------------

_NESTED = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"model": "inferno-tiny", "messages": [', JSON_HEADERS, 400),
        (b"", JSON_HEADERS, 400),
        (b"[1, 2, 3]", JSON_HEADERS, 400),
        (b'"just a string"', JSON_HEADERS, 400),
        (b"42", JSON_HEADERS, 400),
        (b"null", JSON_HEADERS, 400),
        (_NESTED, JSON_HEADERS, 400),
        (b'{"model": "inferno-tiny", "messages": ' + _NESTED + b"}", JSON_HEADERS, 400),
        (b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, JSON_HEADERS, 400),
        (b'{"model": "\xff\xfe\xfd", "messages": []}', JSON_HEADERS, 400),
        (b'{"model": "inferno-tiny\xc3", "messages": []}', JSON_HEADERS, 400),
        (b'{"model":"inferno-tiny","messages":[{"role":"user","content":"a\x00b"}]}', None, 400),
        (b"model=inferno-tiny", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b"hello", {"Content-Type": "text/plain"}, 415),
        (b"--x\r\n\r\n--x--", {"Content-Type": "multipart/form-data; boundary=x"}, 415),
        (b"<xml/>", {"Content-Type": "application/xml"}, 415),
    ],
    ids=[
        "truncated-json",
        "empty-body",
        "array",
        "string",
        "number",
        "null",
        "nested-10000-array",
        "nested-10000-in-messages",
        "nested-10000-objects",
        "invalid-utf8",
        "truncated-utf8",
        "raw-nul-byte-in-string",
        "form-urlencoded",
        "text-plain",
        "multipart",
        "xml",
    ],
)
def test_hostile_body_gets_a_4xx_envelope(
    base_url: str, content: bytes, headers: dict[str, str] | None, status: int
) -> None:
    headers = headers if headers is not None else JSON_HEADERS
    response = httpx.post(base_url + CHAT, content=content, headers=headers, timeout=30)
    error = _envelope(response, status)
    assert error["type"] == "invalid_request_error"


def test_escaped_nul_in_a_string_is_never_a_5xx(base_url: str) -> None:
    for body in (
        chat_body("before\u0000after", 3),
        chat_body("\u0000" * 50, 3),
        {"model": MODEL_ID, "prompt": "nul \u0000 inside", "max_tokens": 3},
        {"model": MODEL_ID, "input": "nul \u0000 inside"},
    ):
        path = CHAT if "messages" in body else COMPLETIONS if "prompt" in body else EMBEDDINGS
        response = httpx.post(base_url + path, json=body, timeout=30)
        if response.status_code != 200:
            _envelope(response, 400)


def test_nine_mib_body_is_a_413_envelope(base_url: str) -> None:
    body = chat_body("x" * (9 * 1024 * 1024), 3)
    error = _envelope(httpx.post(base_url + CHAT, json=body, timeout=60), 413)
    assert error["type"] == "invalid_request_error"


def test_nine_mib_chunked_body_is_a_413_envelope(base_url: str) -> None:
    """No Content-Length to check up front: the limit must hold while reading."""

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "inferno-tiny", "messages": [{"role": "user", "content": "'
        for _ in range(9 * 16):
            yield b"x" * 65536
        yield b'"}]}'

    response = httpx.post(base_url + CHAT, content=chunks(), headers=JSON_HEADERS, timeout=60)
    _envelope(response, 413)


def _raw_exchange(base_url: str, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Sends raw bytes, returns (status, body) of the response (Content-Length framed)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        # The server may answer and close before it has read everything.
        with contextlib.suppress(OSError):
            sock.sendall(request)
        data = read_until(sock, b"\r\n\r\n", timeout)
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    status = int(head.split(b" ", 2)[1])
    return status, body


def _envelope_bytes(status: int, body: bytes) -> dict[str, Any]:
    assert 400 <= status < 500, (status, body[:300])
    envelope = json.loads(body)
    errors = list(specs.error_validator().iter_errors(envelope))
    assert not errors, body[:300]
    return envelope["error"]


@pytest.mark.parametrize(
    "header_block",
    [
        b"X-Huge: " + b"a" * 65536 + b"\r\n",
        b"".join(b"X-Many-%d: value\r\n" % i for i in range(4000)),
        b"Cookie: " + b"c=" * 200_000 + b"\r\n",
    ],
    ids=["one-64kib-header", "4000-headers", "400kb-cookie"],
)
def test_absurd_headers_get_a_4xx_envelope(base_url: str, header_block: bytes) -> None:
    payload = json.dumps(chat_body("hi", 3)).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n"
        % len(payload)
        + header_block
        + b"\r\n"
        + payload
    )
    status, body = _raw_exchange(base_url, request)
    _envelope_bytes(status, body)


def test_absurd_request_line_gets_a_4xx_envelope(base_url: str) -> None:
    request = b"GET /v1/models?" + b"q" * 65536 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    status, body = _raw_exchange(base_url, request)
    _envelope_bytes(status, body)


def test_garbage_instead_of_http_is_survived(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    for garbage in (b"\x00\x01\x02\xff" * 1000 + b"\r\n\r\n", b"NOT HTTP AT ALL\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(garbage)
            sock.settimeout(5)
            try:
                reply = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                reply = b""
        if reply:
            status = int(reply.split(b" ", 2)[1])
            assert 400 <= status < 500, reply[:200]
