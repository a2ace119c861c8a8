"""Test-only fault injection for the reference server, plus the client helpers its tests share.

Run as ``python -m tests.reference_server._faulty_server serve --model tiny ...``: it patches the
engine according to ``INFERNO_FAULT_*`` environment variables, then hands over to the normal CLI.
Nothing here is reachable from the public CLI or HTTP API; only the tests start this module.

    INFERNO_FAULT_TOKEN_DELAY=S      sleep S seconds per generated token
    INFERNO_FAULT_TOKEN_MARKER=M     ...only when the prompt contains M (default: always)
    INFERNO_FAULT_PREFILL_DELAY=S    sleep S seconds before a generation's first token
    INFERNO_FAULT_PREFILL_MARKER=M   ...only when the prompt contains M (default: always)
    INFERNO_FAULT_NO_EOS=1           never stop at end-of-generation: lengths become exact
    INFERNO_FAULT_INFERENCE_ERROR=1  raise inside generation when the prompt contains
                                     FAIL_NOW (before any token) or FAIL_LATER (after 3 tokens)
    INFERNO_FAULT_TOKEN_LOG=PATH     append one byte per generated token, so a test can watch
                                     the engine's progress from outside the process
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MODULE = "tests.reference_server._faulty_server"
REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "inferno-tiny"
FAIL_NOW, FAIL_LATER = "FAIL_NOW", "FAIL_LATER"
_FAIL_LATER_AFTER = 3
# Sleeps are sliced so a cancelled generation stops sleeping within one slice.
_SLICE = 0.005


# -- server side: the patches ------------------------------------------------------------------


@dataclass
class _Faults:
    token_delay: float
    token_marker: bytes
    prefill_delay: float
    prefill_marker: bytes
    no_eos: bool
    inference_error: bool
    token_log: str | None

    @classmethod
    def from_env(cls) -> _Faults:
        env = os.environ
        return cls(
            token_delay=float(env.get("INFERNO_FAULT_TOKEN_DELAY", "0") or 0),
            token_marker=env.get("INFERNO_FAULT_TOKEN_MARKER", "").encode(),
            prefill_delay=float(env.get("INFERNO_FAULT_PREFILL_DELAY", "0") or 0),
            prefill_marker=env.get("INFERNO_FAULT_PREFILL_MARKER", "").encode(),
            no_eos=env.get("INFERNO_FAULT_NO_EOS", "") == "1",
            inference_error=env.get("INFERNO_FAULT_INFERENCE_ERROR", "") == "1",
            token_log=env.get("INFERNO_FAULT_TOKEN_LOG") or None,
        )


class InjectedFault(RuntimeError):
    """The failure INFERNO_FAULT_INFERENCE_ERROR injects."""


def _sleep_unless_cancelled(seconds: float, cancelled: threading.Event) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not cancelled.is_set():
        time.sleep(min(_SLICE, left))


def install(faults: _Faults) -> None:
    """Patches the engine in this process. Only the model's worker thread calls the hooks."""
    from reference_server.engine import _llama, _worker

    # The choice being generated: set by the _generate_choice wrapper, read by token_piece.
    current: dict[str, Any] = {"delay": 0.0, "fail_after": None, "tokens": 0, "cancelled": None}
    log_fd = (
        os.open(faults.token_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if faults.token_log
        else None
    )
    original_choice = _worker.ModelWorker._generate_choice
    original_piece = _llama.token_piece
    original_eog = _llama.is_end_of_generation
    original_logprob = _llama.token_logprob

    def generate_choice(
        self: Any, llama: Any, channel: Any, prompt: list[int], index: int, *rest: Any
    ) -> Any:
        text = llama.detokenize(prompt)
        current["delay"] = faults.token_delay if faults.token_marker in text else 0.0
        current["tokens"] = 0
        current["cancelled"] = channel.cancelled
        current["fail_after"] = None
        if faults.inference_error and FAIL_NOW.encode() in text:
            raise InjectedFault("injected inference fault")
        if faults.inference_error and FAIL_LATER.encode() in text:
            current["fail_after"] = _FAIL_LATER_AFTER
        if index == 0 and faults.prefill_delay > 0 and faults.prefill_marker in text:
            _sleep_unless_cancelled(faults.prefill_delay, channel.cancelled)
        return original_choice(self, llama, channel, prompt, index, *rest)

    def token_piece(llama: Any, token: int) -> bytes:
        # Called once per generated token (the logprob hook below keeps its own calls out).
        current["tokens"] += 1
        if current["fail_after"] is not None and current["tokens"] > current["fail_after"]:
            raise InjectedFault("injected inference fault after some tokens")
        if current["delay"] > 0:
            _sleep_unless_cancelled(current["delay"], current["cancelled"] or threading.Event())
        if log_fd is not None:
            os.write(log_fd, b".")
        return original_piece(llama, token)

    def is_end_of_generation(llama: Any, token: int) -> bool:
        return False if faults.no_eos else original_eog(llama, token)

    def token_logprob(llama: Any, row: int, token: int, top_n: int) -> Any:
        # Rendering alternatives goes through token_piece too: bypass the hook so that only
        # generated tokens are delayed and counted.
        _llama.token_piece = original_piece
        try:
            return original_logprob(llama, row, token, top_n)
        finally:
            _llama.token_piece = token_piece

    _worker.ModelWorker._generate_choice = generate_choice
    _llama.token_piece = token_piece
    _llama.token_logprob = token_logprob
    _llama.is_end_of_generation = is_end_of_generation


def main(argv: list[str] | None = None) -> int:
    install(_Faults.from_env())
    from reference_server.cli import main as cli_main

    return cli_main(argv)


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
    kind: str  # "data" or "comment"
    text: str
    at: float = 0.0  # monotonic arrival time, when the reader recorded it

    def json(self) -> Any:
        return json.loads(self.text)


def parse_sse(text: str) -> list[SseItem]:
    """Events of a complete SSE body: data payloads and comment lines, in order."""
    items = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data:"):
                items.append(SseItem("data", line[5:].strip()))
            elif line.startswith(":"):
                items.append(SseItem("comment", line[1:].strip()))
    return items


def iter_sse(lines: Iterator[str]) -> Iterator[SseItem]:
    """SSE items from httpx `iter_lines()` as they arrive, stamped with their arrival time."""
    for line in lines:
        if line.startswith("data:"):
            yield SseItem("data", line[5:].strip(), time.monotonic())
        elif line.startswith(":"):
            yield SseItem("comment", line[1:].strip(), time.monotonic())


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


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def scrape(base_url: str, client: httpx.Client | None = None) -> dict[str, float]:
    """/metrics as {'name{labels}': value}; labels exactly as the server renders them."""
    getter = client.get if client is not None else httpx.get
    response = getter(base_url + "/metrics", timeout=5.0)
    response.raise_for_status()
    samples = {}
    for line in response.text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
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


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def chat_body(prompt: str, max_tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        **extra,
    }


if __name__ == "__main__":
    sys.exit(main())
