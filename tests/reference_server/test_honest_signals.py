"""Honest signals: a client that hangs up is not a server error, `/metrics` adds up, and
`stream_options` without `stream: true` is refused the way OpenAI refuses it."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from inferno.launcher import ServerProcess, reference_server_process
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    MODEL,
    Samples,
    chat_body,
    client,
    completion_body,
    error_body,
    metric,
    scrape,
    wait_idle,
)

STARTED = "inferno_requests_started_total"
FINISHED = "inferno_requests_finished_total"
REQUESTS = "inferno_requests_total"
OUTCOMES = ("completed", "cancelled", "shed", "failed")
HANGUPS = 5
SETTLE_S = 10.0  # only bounds a hang: the counters settle as soon as the server notices


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # INFO, so that the test sees what a client that hangs up is logged as.
    with reference_server_process(["--model", "tiny", "--log-level", "INFO"]) as process:
        yield process


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server.base_url) as c:
        yield c


def _hang_up_while_sending_the_body(base_url: str) -> None:
    """Headers promise 100 bytes of body; 10 arrive, then the client is gone."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock:
        head = f"POST {CHAT} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        sock.sendall(head.encode() + b"Content-Length: 100\r\n\r\n" + b'{"model":"')
        time.sleep(0.05)  # let the server start reading it


def _hang_up_mid_stream(base_url: str) -> None:
    body = json.dumps(chat_body(max_tokens=200, stream=True)).encode()
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock:
        head = f"POST {CHAT} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        sock.recv(64)  # the stream has begun


def _settled(http: httpx.Client, done: object) -> Samples:
    """Scrapes until `done(samples)` holds; the deadline only bounds a hang."""
    deadline = time.monotonic() + SETTLE_S
    samples = scrape(http)
    while not done(samples) and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
        samples = scrape(http)
    return samples


def _routes(samples: Samples) -> set[str]:
    return {dict(labels)["route"] for name, labels in samples if name == STARTED}


def _unbalanced(samples: Samples) -> dict[str, tuple[float, float]]:
    """Routes where started != the sum of outcomes (the scrape itself is still in flight)."""
    wrong = {}
    for route in _routes(samples):
        started = metric(samples, STARTED, route=route)
        ended = sum(metric(samples, FINISHED, route=route, outcome=o) for o in OUTCOMES)
        in_flight = 1 if route == "/metrics" else 0
        if started != ended + in_flight:
            wrong[route] = (started, ended)
    return wrong


def test_a_client_that_hangs_up_is_cancelled_not_a_server_error(
    server: ServerProcess, http: httpx.Client
) -> None:
    wait_idle(http)
    before = scrape(http)
    for _ in range(HANGUPS):
        _hang_up_while_sending_the_body(server.base_url)
    cancelled_before = metric(before, FINISHED, route=CHAT, outcome="cancelled")
    after = _settled(
        http,
        lambda s: (
            metric(s, FINISHED, route=CHAT, outcome="cancelled") >= cancelled_before + HANGUPS
        ),
    )

    def moved(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert moved(FINISHED, route=CHAT, outcome="cancelled") == HANGUPS
    assert moved(REQUESTS, route=CHAT, status="499") == HANGUPS
    assert moved(REQUESTS, route=CHAT, status="500") == 0
    assert moved(FINISHED, route=CHAT, outcome="failed") == 0
    log = server.log(200_000)
    assert "RequestCancelled" not in log and "ERROR" not in log, log[-2000:]
    assert log.count("INFO reference_server: client closed the connection") >= HANGUPS, log


def test_metrics_add_up_on_every_route(server: ServerProcess, http: httpx.Client) -> None:
    base = server.base_url
    http.post(CHAT, json=chat_body())
    http.post(CHAT, json=chat_body(stream=True))
    http.post(COMPLETIONS, json=completion_body(max_tokens=0))  # 400
    http.post(EMBEDDINGS, json={"model": MODEL, "input": "hello"})
    http.get("/v1/no-such-route")  # 404, an unmatched route
    _hang_up_while_sending_the_body(base)
    _hang_up_mid_stream(base)
    ws_url = base.replace("http://", "ws://") + "/v1/chat/completions/ws"
    with connect(ws_url, open_timeout=5.0, close_timeout=5.0) as ws:
        ws.send(json.dumps(chat_body(max_tokens=4)))
        for _ in range(100):  # bounded: a 4-token answer is a handful of messages
            if ws.recv(timeout=10.0) == "[DONE]":
                break
    wait_idle(http)
    samples = _settled(http, lambda s: not _unbalanced(s))
    assert not _unbalanced(samples), _unbalanced(samples)
    assert {CHAT, COMPLETIONS, EMBEDDINGS, "/unmatched", "/v1/chat/completions/ws"} <= _routes(
        samples
    )


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
@pytest.mark.parametrize("stream", [None, False])
def test_stream_options_without_stream_is_refused(
    http: httpx.Client, path: str, stream: bool | None
) -> None:
    body = chat_body() if path == CHAT else completion_body()
    body["stream_options"] = {"include_usage": True}
    if stream is not None:
        body["stream"] = stream
    error = error_body(http.post(path, json=body), 400, param="stream_options")
    assert "stream_options" in error["message"], error


def test_stream_options_null_without_stream_is_accepted(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body(stream_options=None))
    assert response.status_code == 200, response.text
