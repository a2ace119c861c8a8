"""Response compression against a real server: Accept-Encoding negotiation, each codec on JSON and
on SSE (decoded by hand from the raw bytes and by httpx), per-event flushing, and the official
`openai` SDK with compression and token batching on."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import brotli
import httpx
import openai
import pytest
import zstandard

import specs
from tests.reference_server._faulty_server import (
    MODEL_ID,
    chat_body,
    content_of,
    faulty_server,
    iter_sse,
    model_health,
    parse_sse,
    raw_post,
    wait_until_idle,
)

CODECS = ("zstd", "br", "gzip", "deflate")
CHAT = "/v1/chat/completions"
TOKEN_DELAY = 0.02


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """Compression is on by default; batching is on as the SDK test needs. Prompts with SLOW
    cost TOKEN_DELAY per token, and EOS is off so lengths are exact."""
    faults = {"token_delay": TOKEN_DELAY, "token_marker": "SLOW", "no_eos": 1}
    with faulty_server(["--stream-batch-ms", "20"], **faults) as server:
        yield server.base_url


def _decoder(coding: str) -> Callable[[bytes], bytes]:
    """A streaming decoder for one response: feed it bytes as they arrive, get text so far."""
    if coding in ("gzip", "deflate"):
        obj = zlib.decompressobj(31 if coding == "gzip" else 15)
        return obj.decompress
    if coding == "br":
        return brotli.Decompressor().process
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress
    raise ValueError(coding)


def _raw(client: httpx.Client, method: str, url: str, coding: str, **kwargs: Any) -> httpx.Response:
    """A response whose body is the bytes on the wire (not decoded by httpx)."""
    request = client.build_request(method, url, headers={"Accept-Encoding": coding}, **kwargs)
    response = client.send(request, stream=True)
    try:
        response._raw = b"".join(response.iter_raw())  # type: ignore[attr-defined]
    finally:
        response.close()
    return response


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as c:
        yield c


# -- JSON bodies ----------------------------------------------------------------------------------


def _large_chat() -> dict[str, Any]:
    # Logprobs make a short completion comfortably larger than the 512-byte threshold.
    return chat_body("compress me", 12, seed=3, logprobs=True, top_logprobs=5)


@pytest.mark.parametrize("coding", CODECS)
@pytest.mark.parametrize("what", ["openapi", "chat"])
def test_each_codec_round_trips_on_json(
    base_url: str, client: httpx.Client, coding: str, what: str
) -> None:
    method, url, kwargs = (
        ("GET", base_url + "/openapi.json", {})
        if what == "openapi"
        else ("POST", base_url + CHAT, {"json": _large_chat()})
    )
    plain = client.request(method, url, headers={"Accept-Encoding": "identity"}, **kwargs)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert len(plain.content) >= 512
    raw = _raw(client, method, url, coding, **kwargs)
    assert raw.status_code == 200
    assert raw.headers["content-encoding"] == coding
    assert "accept-encoding" in raw.headers.get("vary", "").lower()
    wire: bytes = raw._raw  # type: ignore[attr-defined]
    assert len(wire) < len(plain.content), "compressed body is not smaller"
    assert int(raw.headers["content-length"]) == len(wire)
    decoded = json.loads(_decoder(coding)(wire))
    # httpx decodes the same bytes on its own.
    through_httpx = client.request(method, url, headers={"Accept-Encoding": coding}, **kwargs)
    if what == "openapi":
        assert decoded == plain.json() == through_httpx.json()
    else:
        validator = specs.response_validator("createChatCompletion")
        for body in (decoded, through_httpx.json()):
            validator.validate(body)
            # Same seed, same text: the codec changed nothing but the bytes.
            assert body["choices"][0]["message"] == plain.json()["choices"][0]["message"]


# -- SSE streams ----------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", CODECS)
def test_each_codec_round_trips_on_sse(base_url: str, client: httpx.Client, coding: str) -> None:
    body = chat_body("stream me", 30, stream=True, seed=11)
    plain = client.post(base_url + CHAT, json=body, headers={"Accept-Encoding": "identity"})
    expected = content_of(parse_sse(plain.text))
    assert expected

    raw = _raw(client, "POST", base_url + CHAT, coding, json=body)
    assert raw.status_code == 200
    assert raw.headers["content-encoding"] == coding
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert "accept-encoding" in raw.headers.get("vary", "").lower()
    text = _decoder(coding)(raw._raw).decode("utf-8")  # type: ignore[attr-defined]
    by_hand = parse_sse(text)

    with client.stream(
        "POST", base_url + CHAT, json=body, headers={"Accept-Encoding": coding}
    ) as response:
        assert response.headers["content-encoding"] == coding
        by_httpx = list(iter_sse(response.iter_lines()))

    validator = specs.stream_event_validator("createChatCompletion")
    for items in (by_hand, by_httpx):
        data = [i for i in items if i.kind == "data"]
        assert data[-1].text == "[DONE]"
        for item in data[:-1]:
            validator.validate(item.json())
        assert content_of(items) == expected


class _Chunked:
    """Incremental decoder of an HTTP/1.1 chunked body."""

    def __init__(self) -> None:
        self._buffer = b""
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = b""
        while not self.ended:
            head, sep, rest = self._buffer.partition(b"\r\n")
            if not sep:
                break
            size = int(head.split(b";")[0], 16)
            if len(rest) < size + 2:
                break
            out += rest[:size]
            self._buffer = rest[size + 2 :]
            self.ended = size == 0
        return out


@pytest.mark.serial  # "before the end" is a matter of milliseconds: run alone
@pytest.mark.parametrize("coding", CODECS)
def test_first_sse_event_decodes_before_the_stream_ends(base_url: str, coding: str) -> None:
    """Reads the raw socket incrementally: the first content event must be decodable from the
    bytes that arrived while the server is still generating (a flush after every event)."""
    wait_until_idle(base_url)
    max_tokens = 60  # ~1.2 s of generation at TOKEN_DELAY per token
    body = chat_body("SLOW flush every event", max_tokens, stream=True, seed=5)
    sock = raw_post(base_url, CHAT, body, headers={"Accept-Encoding": coding})
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "connection closed before the headers"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        assert f"content-encoding: {coding}".encode() in head.lower(), head
        assert b"transfer-encoding: chunked" in head.lower(), head
        chunked, decode = _Chunked(), _decoder(coding)
        text = decode(chunked.feed(rest)).decode("utf-8", errors="strict")
        for _ in range(1000):  # bounded by count and by the socket timeout
            if any(
                item.kind == "data" and item.text != "[DONE]" and content_of([item])
                for item in parse_sse(text.rpartition("\n\n")[0])
            ):
                break
            chunk = sock.recv(4096)
            assert chunk, f"stream ended before a content event decoded: {text!r}"
            text += decode(chunked.feed(chunk)).decode("utf-8")
        else:
            raise AssertionError("no content event decoded")
        assert "[DONE]" not in text and not chunked.ended
        # The server is still generating this very stream.
        assert model_health(base_url)["running"] == 1
    finally:
        sock.close()
    wait_until_idle(base_url)


@pytest.mark.serial
def test_httpx_decodes_the_first_event_long_before_the_end(base_url: str) -> None:
    body = chat_body("SLOW early bird", 50, stream=True, seed=9)
    running_at_first: int | None = None
    items = []
    with httpx.stream(
        "POST", base_url + CHAT, json=body, headers={"Accept-Encoding": "gzip"}, timeout=30
    ) as response:
        assert response.headers["content-encoding"] == "gzip"
        for item in iter_sse(response.iter_lines()):
            items.append(item)
            if running_at_first is None and item.kind == "data" and content_of([item]):
                running_at_first = model_health(base_url)["running"]
    assert items[-1].text == "[DONE]"
    # The first event was decoded while the server was still generating the other 49 tokens
    # (about a second of them): it did not wait for the rest.
    assert running_at_first == 1


# -- negotiation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip;q=0.5, br;q=0.9", "br"),
        ("br;q=0.1, deflate", "deflate"),
        ("gzip, br;q=0", "gzip"),
        ("GZIP", "gzip"),
        ("*", "zstd"),
        ("*;q=0.2, gzip;q=0.3", "gzip"),
        ("identity", None),
        ("compress, snappy", None),
        ("", None),
        ("gzip;q=abc", None),
        ("gzip;q=2", None),
        (";;,,;q=", None),
        ("\x7fgarbage\x7f", None),
    ],
)
def test_accept_encoding_negotiation(
    base_url: str, accept_encoding: str, expected: str | None
) -> None:
    response = httpx.get(
        base_url + "/openapi.json", headers={"Accept-Encoding": accept_encoding}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == expected
    assert "accept-encoding" in response.headers.get("vary", "").lower()
    assert response.json()["openapi"].startswith("3.")


def test_malformed_accept_encoding_on_a_stream_is_not_an_error(base_url: str) -> None:
    body = chat_body("odd header", 5, stream=True)
    response = httpx.post(
        base_url + CHAT, json=body, headers={"Accept-Encoding": "br;q=x, ;;"}, timeout=30
    )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert parse_sse(response.text)[-1].text == "[DONE]"


def test_small_bodies_are_not_compressed(base_url: str) -> None:
    response = httpx.get(base_url + "/v1/models", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert response.status_code == 200
    assert len(response.content) < 512, "pick a smaller body: this one is over the threshold"
    assert "content-encoding" not in response.headers
    assert "accept-encoding" in response.headers.get("vary", "").lower()


def test_error_envelopes_stay_valid_when_compressed(base_url: str) -> None:
    response = httpx.post(
        base_url + CHAT,
        # The unknown model's name is echoed in the message: a 4xx body over the threshold.
        json={"model": "no-such-model-" + "x" * 600, "messages": [{"role": "user", "content": ""}]},
        headers={"Accept-Encoding": "br"},
        timeout=10,
    )
    assert response.status_code == 404
    assert response.headers.get("content-encoding") == "br"
    errors = list(specs.error_validator().iter_errors(response.json()))
    assert not errors, response.text


# -- the official SDK, unchanged ------------------------------------------------------------------


def test_openai_sdk_works_with_compression_and_batching(base_url: str) -> None:
    # The SDK talks through httpx, which advertises every codec it can decode.
    sdk = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=30)
    raw = sdk.chat.completions.with_raw_response.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=40,
        logprobs=True,
        top_logprobs=3,
    )
    assert raw.headers.get("content-encoding") in CODECS
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens == 40

    stream = sdk.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "SLOW stream"}],
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text and finish == "length"
    assert usage is not None and usage.completion_tokens == 20

    embeddings = sdk.embeddings.with_raw_response.create(
        model=MODEL_ID, input=["first text", "second text"]
    )
    assert embeddings.headers.get("content-encoding") in CODECS
    vectors = embeddings.parse().data
    assert [v.index for v in vectors] == [0, 1]
    assert all(len(v.embedding) == len(vectors[0].embedding) > 0 for v in vectors)
