"""Streaming extras against real server processes: token batching, SSE keep-alive, WebSocket
streaming, and the request deadline (504 before anything is sent, a clean end after)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import specs
from tests.reference_server._faulty_server import (
    MODEL_ID,
    SseItem,
    cancelled_count,
    chat_body,
    content_of,
    faulty_server,
    iter_sse,
    model_health,
    raw_post,
    read_until,
    wait_until_idle,
)

# `make test-fast` leaves it out; timings of a few hundred ms: `make test` runs it alone.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
PARALLEL = 4  # the server's default number of sequences
TOKEN_DELAY = 0.02
BATCH_MS = 50
KEEPALIVE_S = 0.3
PREFILL_S = 1.5
REQUEST_TIMEOUT = 1.0
# Seed 2 of this prompt writes "日本": multi-byte characters a careless batcher could split.
BATCH_PROMPT, BATCH_SEED, BATCH_TOKENS = "batch me", 2, 25


@pytest.fixture(scope="module")
def plain() -> Iterator[str]:
    """One event per token; prompts with WAIT sit PREFILL_S before their first token."""
    faults = {"token_delay": TOKEN_DELAY, "no_eos": 1}
    faults |= {"prefill_delay": PREFILL_S, "prefill_marker": "WAIT"}
    with faulty_server(["--sse-keepalive-s", str(KEEPALIVE_S)], **faults) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def batched() -> Iterator[str]:
    faults = {"token_delay": TOKEN_DELAY, "no_eos": 1}
    with faulty_server(["--stream-batch-ms", str(BATCH_MS)], **faults) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def deadline() -> Iterator[str]:
    """A 1 s request deadline, keep-alive effectively off; WAIT prompts outlast the deadline
    before their first token, the others while streaming."""
    args = ["--request-timeout", str(REQUEST_TIMEOUT), "--sse-keepalive-s", "100"]
    faults = {"token_delay": TOKEN_DELAY, "no_eos": 1, "prefill_delay": 3, "prefill_marker": "WAIT"}
    with faulty_server(args, **faults) as server:
        yield server.base_url


def _stream(base_url: str, path: str, body: dict[str, Any]) -> tuple[list[SseItem], float, bytes]:
    """Items with arrival times, the request start time, and the raw (identity) body."""
    started = time.monotonic()
    raw = b""
    items: list[SseItem] = []
    with httpx.stream(
        "POST", base_url + path, json=body, headers={"Accept-Encoding": "identity"}, timeout=30
    ) as response:
        assert response.status_code == 200, response.read()
        for item in iter_sse(_recording(response.iter_bytes(), raw_parts := [])):
            items.append(item)
    raw = b"".join(raw_parts)
    return items, started, raw


def _recording(chunks: Iterator[bytes], parts: list[bytes]) -> Iterator[str]:
    """Lines of a byte stream, decoded strictly (a split character fails here), kept raw too."""
    buffer = b""
    for chunk in chunks:
        parts.append(chunk)
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="strict")
    if buffer:
        yield buffer.decode("utf-8", errors="strict")


def _content_events(items: list[SseItem]) -> list[SseItem]:
    return [i for i in items if i.kind == "data" and i.text != "[DONE]" and content_of([i])]


def _validate_stream(items: list[SseItem], operation_id: str) -> None:
    data = [i for i in items if i.kind == "data"]
    assert data and data[-1].text == "[DONE]", items[-3:]
    validator = specs.stream_event_validator(operation_id)
    for item in data[:-1]:
        validator.validate(item.json())


# -- token batching ------------------------------------------------------------------------------


def test_batching_coalesces_tokens_without_changing_the_text(plain: str, batched: str) -> None:
    body = chat_body(
        BATCH_PROMPT,
        BATCH_TOKENS,
        seed=BATCH_SEED,
        stream=True,
        stream_options={"include_usage": True},
    )
    runs: dict[str, list[SseItem]] = {}
    for name, url in (("plain", plain), ("batched", batched)):
        items, _, raw = _stream(url, CHAT, body)
        _validate_stream(items, "createChatCompletion")
        assert "\ufffd" not in raw.decode("utf-8")
        runs[name] = items
    plain_items, batched_items = runs["plain"], runs["batched"]
    text = content_of(plain_items)
    assert any(ord(c) > 0x7F for c in text), "the prompt no longer produces multi-byte text"
    assert content_of(batched_items) == text
    data = [i.json() for i in batched_items if i.kind == "data" and i.text != "[DONE]"]
    usage = [d["usage"] for d in data if d.get("usage")]
    assert usage and usage[-1]["completion_tokens"] == BATCH_TOKENS
    batched_events = len(_content_events(batched_items))
    assert batched_events < BATCH_TOKENS / 2, f"{batched_events} events for {BATCH_TOKENS} tokens"
    assert len(_content_events(plain_items)) > BATCH_TOKENS * 0.8
    # The first token is never held back: it travels alone, exactly as without batching. (A
    # first token that waited for the 50 ms window would have taken the next ones, produced
    # every 20 ms, along.)
    assert content_of(_content_events(batched_items)[:1]) == content_of(
        _content_events(plain_items)[:1]
    )


# -- keep-alive --------------------------------------------------------------------------------


def test_keepalive_comments_while_waiting_for_the_first_token(plain: str) -> None:
    body = chat_body("WAIT for it", 5, stream=True)
    items, started, _ = _stream(plain, CHAT, body)
    first_data = next(i for i, item in enumerate(items) if item.kind == "data")
    comments = [i for i in items[:first_data] if i.kind == "comment"]
    assert comments and all(c.text == "keep-alive" for c in comments), items[:first_data]
    # One comment per interval while waiting (not one burst at the end).
    assert comments[0].at - started < PREFILL_S - KEEPALIVE_S, comments[0].at - started
    assert items[first_data].at - started >= PREFILL_S * 0.9
    _validate_stream(items, "createChatCompletion")
    assert len(_content_events(items)) >= 1


def test_keepalive_comments_while_waiting_in_the_queue(plain: str) -> None:
    wait_until_idle(plain)
    # Every sequence busy: 4 streams of 20 tokens at 4 x TOKEN_DELAY per step (~1.6 s); their
    # clients read nothing meanwhile.
    busy = [
        raw_post(plain, CHAT, chat_body(f"hold sequence {i}", 20, stream=True))
        for i in range(PARALLEL)
    ]
    try:
        for sock in busy:
            read_until(sock, b"data: ", timeout=10.0)
        assert model_health(plain)["running"] == PARALLEL
        items, _, _ = _stream(plain, CHAT, chat_body("queued behind", 3, stream=True))
    finally:
        for sock in busy:
            sock.close()
    first_data = next(i for i, item in enumerate(items) if item.kind == "data")
    comments = [i for i in items[:first_data] if i.kind == "comment"]
    assert comments and all(c.text == "keep-alive" for c in comments), items[:first_data]
    _validate_stream(items, "createChatCompletion")


# -- WebSocket ---------------------------------------------------------------------------------


def _ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://") + path + "/ws"


def _ws_messages(ws: ClientConnection, limit: int = 500) -> list[str]:
    messages = []
    for _ in range(limit):
        message = ws.recv(timeout=10)
        assert isinstance(message, str), "chunks are text messages"
        messages.append(message)
        if message == "[DONE]":
            return messages
    raise AssertionError(f"no [DONE] after {limit} messages")


def _normalised(chunk: dict[str, Any]) -> dict[str, Any]:
    # Ids and timestamps differ per request; everything else must be identical.
    return {k: v for k, v in chunk.items() if k not in ("id", "created")}


@pytest.mark.parametrize(
    ("path", "operation_id", "body"),
    [
        (CHAT, "createChatCompletion", chat_body("over a socket", 12, seed=4)),
        (
            COMPLETIONS,
            "createCompletion",
            {"model": MODEL_ID, "prompt": "over a socket", "max_tokens": 12, "seed": 4},
        ),
    ],
)
def test_websocket_sends_the_same_chunks_as_sse(
    plain: str, path: str, operation_id: str, body: dict[str, Any]
) -> None:
    sse_items, _, _ = _stream(plain, path, {**body, "stream": True})
    sse_chunks = [i.json() for i in sse_items if i.kind == "data" and i.text != "[DONE]"]
    with connect(_ws_url(plain, path), open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps(body))
        messages = _ws_messages(ws)
    assert messages[-1] == "[DONE]"
    validator = specs.stream_event_validator(operation_id)
    ws_chunks = [json.loads(m) for m in messages[:-1]]
    for chunk in ws_chunks:
        validator.validate(chunk)
    assert len({c["id"] for c in ws_chunks}) == 1
    assert [_normalised(c) for c in ws_chunks] == [_normalised(c) for c in sse_chunks]


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"model": MODEL_ID}),  # no messages
        json.dumps({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}),
        "this is not json",
        json.dumps(["not", "an", "object"]),
    ],
)
def test_websocket_bad_request_gets_the_envelope_then_close(plain: str, message: str) -> None:
    with connect(_ws_url(plain, CHAT), open_timeout=10, close_timeout=5) as ws:
        ws.send(message)
        reply = ws.recv(timeout=10)
        envelope = json.loads(reply)
        errors = list(specs.error_validator().iter_errors(envelope))
        assert not errors, reply
        assert envelope["error"]["type"] == "invalid_request_error"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_closing_the_websocket_cancels_the_generation(plain: str) -> None:
    wait_until_idle(plain)
    before = cancelled_count(plain)
    with connect(_ws_url(plain, CHAT), open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps(chat_body("a long answer", 400)))
        for _ in range(3):
            ws.recv(timeout=10)
        assert model_health(plain)["running"] == 1
    # 400 tokens take 8 s at TOKEN_DELAY each: idle within 2 s means the generation stopped.
    wait_until_idle(plain, timeout=2.0)
    assert cancelled_count(plain) == before + 1


# -- the request deadline ------------------------------------------------------------------------


def _check_timeout_envelope(response: httpx.Response, started: float) -> None:
    assert response.status_code == 504, response.text
    assert response.headers["content-type"].startswith("application/json")
    envelope = response.json()
    assert not list(specs.error_validator().iter_errors(envelope)), envelope
    assert envelope["error"]["type"] == "server_error"
    elapsed = time.monotonic() - started
    assert REQUEST_TIMEOUT * 0.9 <= elapsed < REQUEST_TIMEOUT + 1.5, elapsed


def test_non_streamed_request_past_the_deadline_gets_504(deadline: str) -> None:
    started = time.monotonic()
    response = httpx.post(deadline + CHAT, json=chat_body("WAIT forever", 5), timeout=30)
    _check_timeout_envelope(response, started)
    wait_until_idle(deadline, timeout=2.0)  # the abandoned prefill stopped too


def test_stream_that_sent_nothing_by_the_deadline_gets_504(deadline: str) -> None:
    started = time.monotonic()
    # Not the prompt of the test before: found whole in the cache, it would need no prefill.
    body = chat_body("WAIT forever, streamed", 5, stream=True)
    response = httpx.post(deadline + CHAT, json=body, timeout=30)
    _check_timeout_envelope(response, started)
    wait_until_idle(deadline, timeout=2.0)


def test_stream_past_the_deadline_ends_cleanly(deadline: str) -> None:
    before = cancelled_count(deadline)
    body = chat_body("a long answer", 200, stream=True)  # ~4 s of tokens
    items, started, _ = _stream(deadline, CHAT, body)
    ended = time.monotonic() - started
    assert ended < REQUEST_TIMEOUT + 1.0, f"stream ran {ended:.2f} s past a 1 s deadline"
    comments = [i.text for i in items if i.kind == "comment"]
    assert f"request timeout after {REQUEST_TIMEOUT:g} s" in comments, comments
    _validate_stream(items, "createChatCompletion")
    data = [i.json() for i in items if i.kind == "data" and i.text != "[DONE]"]
    assert data[-1]["choices"][0]["finish_reason"] == "length"
    assert len(_content_events(items)) >= 1
    # The unfinished generation was stopped, not left running behind the closed stream.
    wait_until_idle(deadline, timeout=2.0)
    assert cancelled_count(deadline) == before + 1
    ok = httpx.post(deadline + CHAT, json=chat_body("quick", 3), timeout=30)
    assert ok.status_code == 200
