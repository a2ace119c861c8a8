"""Test-only fault injection for the reference server, plus the client helpers its tests share.

Run as ``python -m tests.reference_server._faulty_server serve --model tiny ...``: the normal
CLI, with the engine built over the scripted backend of `_scripted_backend.py`, configured by
``INFERNO_FAULT_*`` environment variables (documented there). Nothing here is reachable from
the public CLI or HTTP API; only the tests start this module.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from inferno.sse import SSEComment, SSEEvent, SSEParser
from tests.reference_server._assertions import metric_samples
from tests.reference_server._scripted_backend import (
    FAIL_DECODE,
    FAIL_LATER,
    FAIL_NOW,
    Faults,
    scripted_engine_factory,
)

MODULE = "tests.reference_server._faulty_server"
REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "inferno-tiny"
__all__ = ["FAIL_DECODE", "FAIL_LATER", "FAIL_NOW"]


def main(argv: list[str] | None = None) -> int:
    from reference_server.cli import main as cli_main

    return cli_main(argv, engine_factory=scripted_engine_factory(Faults.from_env()))


# -- client side: helpers the tests share ---------------------------------------------------------


def faulty_server(args: list[str], **faults: object) -> Any:
    """A server process running this module; keyword arguments become INFERNO_FAULT_* variables."""
    from inferno.launcher import reference_server_process

    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": python_path}
    env.update({f"INFERNO_FAULT_{k.upper()}": str(v) for k, v in faults.items()})
    # One llama.cpp thread: on a busy 2-core machine a second, spinning thread makes generation
    # speed swing by 100x, and the tests reason about timing.
    return reference_server_process(
        ["--model", "tiny", "--threads", "1", *args], env=env, module=MODULE
    )


@dataclass(frozen=True)
class SseItem:
    """One event or comment of a stream, as `inferno.sse` parses it, with its arrival time."""

    kind: str  # "data" or "comment"
    text: str
    at: float = 0.0  # monotonic arrival time, when the reader recorded it

    def json(self) -> Any:
        return json.loads(self.text)


def parse_sse(text: str) -> list[SseItem]:
    """Events and comments of a complete SSE body, in order."""
    return list(iter_sse([text.encode("utf-8")]))


def iter_sse(chunks: Iterable[bytes | str]) -> Iterator[SseItem]:
    """Events and comments as they arrive, stamped with their arrival time. Takes bytes as read,
    or lines from httpx `iter_lines()` (which drops the line ends)."""
    parser = SSEParser()
    for chunk in chunks:
        raw = (chunk + "\n").encode("utf-8") if isinstance(chunk, str) else chunk
        yield from _items(parser.feed_items(raw))
    yield from _items(parser.close())


def _items(parsed: Iterable[SSEEvent | SSEComment]) -> Iterator[SseItem]:
    now = time.monotonic()
    for item in parsed:
        if isinstance(item, SSEComment):
            yield SseItem("comment", item.text.strip(), now)
        else:
            yield SseItem("data", item.data, now)


def content_of(items: list[SseItem]) -> str:
    """The generated text of choice 0 in a chat or completions stream."""
    text = ""
    for item in items:
        if item.kind != "data" or item.text == "[DONE]":
            continue
        for choice in item.json().get("choices", []):
            if choice.get("index") != 0:
                continue
            text += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
    return text


def scrape(base_url: str, client: httpx.Client | None = None) -> dict[str, float]:
    """/metrics as {'name{labels}': value}, labels in the server's order; the exposition is
    checked as it is read."""
    getter = client.get if client is not None else httpx.get
    response = getter(base_url + "/metrics", timeout=5.0)
    response.raise_for_status()
    samples = {}
    for name, labels, value in metric_samples(response.text):
        shown = ",".join(f'{k}="{v}"' for k, v in labels)
        samples[name + (f"{{{shown}}}" if labels else "")] = value
    return samples


def cancelled_count(base_url: str) -> float:
    return scrape(base_url).get(f'inferno_cancelled_requests_total{{model="{MODEL_ID}"}}', 0.0)


def model_health(base_url: str, client: httpx.Client | None = None) -> dict[str, Any]:
    getter = client.get if client is not None else httpx.get
    return getter(base_url + "/health", timeout=5.0).json()["models"][MODEL_ID]


def wait_until_idle(base_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """Polls /health until nothing runs or waits; fails the test if that never happens."""
    deadline = time.monotonic() + timeout
    health = model_health(base_url)
    while health["running"] or health["queued"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"server still busy after {timeout:g} s: {health}")
        time.sleep(0.02)
        health = model_health(base_url)
    return health


def raw_post(
    base_url: str,
    path: str,
    body: dict[str, Any] | bytes,
    *,
    headers: dict[str, str] | None = None,
    rcvbuf: int | None = None,
    timeout: float = 10.0,
) -> socket.socket:
    """Sends one HTTP/1.1 POST on a fresh socket and returns the socket unread.

    A small `rcvbuf` (set before connecting, so the TCP window is negotiated with it) makes a
    client that reads nothing push back on the server quickly.
    """
    host, port = base_url.removeprefix("http://").split(":")
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((host, int(port)))
    head = {
        "Host": f"{host}:{port}",
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
        "Accept-Encoding": "identity",
        **(headers or {}),
    }
    lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
    sock.sendall("\r\n".join(lines).encode() + payload)
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float, limit: int = 1 << 20) -> bytes:
    """Reads until `marker` has arrived; fails on timeout, EOF or `limit` bytes without it."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0 or len(data) > limit:
            raise AssertionError(f"{marker!r} not received in {timeout:g} s: {data[-300:]!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}: {data[-300:]!r}")
        data += chunk
    return data


def chat_body(prompt: str, max_tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        **extra,
    }


if __name__ == "__main__":
    sys.exit(main())
