"""A loopback OpenAI-style server with scripted timing and faults, for measuring the meter.

The behaviour is chosen by the first word of the last prompt text (so one run can mix behaviours
via --prompts, and "delay a", "delay b" are distinct prompts with the same behaviour):
  "delay"     role chunk at once, first content after FIRST_TOKEN_S, then a token every ITL_S
  "queue"     like "delay" but the first-token delay grows with the requests in flight
  "truncated" a few tokens, then the body ends without [DONE]
  "nofinish"  tokens and [DONE] but no finish_reason
  "abort"     a few tokens, then the connection is closed mid-body
  "shed"      429 with Retry-After: 1
  "split"     tokens with multi-byte characters, written a few bytes at a time
  "slowfirst" like "delay" with the first token after SLOW_FIRST_S
  "stall"     like "delay" with one gap of STALL_S in the middle
  "long"      like "delay" with LONG_TOKENS tokens
  "reason"    chat: REASONING_TOKENS `reasoning_content` deltas ITL_S apart, then as "delay"
  "reason2"   the same with the `reasoning` key
  "capacity"  one of CAPACITY_SLOTS slots held for the whole answer (first token after
              CAPACITY_FIRST_S, CAPACITY_TOKENS tokens CAPACITY_ITL_S apart): a known capacity of
              about CAPACITY_SLOTS / CAPACITY_SERVICE_S requests per second
The "delay" timing is the server's own (`FixtureServer(first_token_s=, itl_s=, tokens=)`, the
constants by default): `python -m benchmarks.calibration` runs the load tools against it.
Every request's arrival time and body are recorded (the first MAX_RECORDED after `forget`), and
the wall-clock span of every "delay" request: received, last token sent (None if cut off).
With `prompt_cache` on, chat usage reports prompt tokens (4 characters each) and, as
`prompt_tokens_details.cached_tokens`, the tokens of the longest run of leading messages an
earlier request already sent: a prompt cache whose hits are known.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FIRST_TOKEN_S = 0.200
ITL_S = 0.020
QUEUE_STEP_S = 0.100
TOKENS = 10
SLOW_FIRST_S = 0.600
STALL_S = 0.300
LONG_TOKENS = 40
REASONING_TOKENS = 3
CAPACITY_SLOTS = 1
CAPACITY_FIRST_S = 0.050
CAPACITY_ITL_S = 0.010
CAPACITY_TOKENS = 6
CAPACITY_SERVICE_S = CAPACITY_FIRST_S + (CAPACITY_TOKENS - 1) * CAPACITY_ITL_S  # 0.1 s
MAX_RECORDED = 10_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FixtureServer

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY small writes can wait for delayed ACKs (tens of ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fixture", "object": "model"}]})
        elif self.path == "/health":  # as vLLM and llama-server answer; GuideLLM asks first
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        received_at = time.perf_counter()
        if "messages" in request:
            text = request["messages"][-1]["content"]
            if isinstance(text, list):  # content parts, as GuideLLM sends them
                text = " ".join(part.get("text", "") for part in text if isinstance(part, dict))
        else:
            text = request.get("prompt") or request.get("input") or "delay"
        # The first word after a shared prefix (which ends with a blank line) picks the mode.
        mode = (text.rsplit("\n\n", 1)[-1].split() or ["delay"])[0]
        self.server.count(mode, received_at, request)
        if mode == "shed":
            error = {"error": {"message": "busy", "type": "rate_limit_error"}}
            self._json(429, error, {"Retry-After": "1"})
            return
        if self.path == "/v1/embeddings":
            usage = {"prompt_tokens": 3, "total_tokens": 3}
            data = [{"embedding": [0.1, 0.2], "index": 0}]
            self._json(200, {"object": "list", "data": data, "usage": usage})
            return
        self.server.enter()
        slot = self.server.slots if mode == "capacity" else None
        try:
            if slot is not None:
                slot.acquire()
            self._stream(mode, request, received_at)
        finally:
            if slot is not None:
                slot.release()
            self.server.leave()

    def _write(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write(f"data: {data}\n\n".encode())

    def _chunk(
        self, chat: bool, text: str | None, finish: str | None = None, key: str = "content"
    ) -> dict[str, Any]:
        if chat:
            delta = {"role": "assistant", "content": ""} if text is None else {key: text}
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "finish_reason": finish}
        return {"object": "chat.completion.chunk", "choices": [choice]}

    def _stream(self, mode: str, request: dict[str, Any], received_at: float) -> None:
        chat = "messages" in request
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if chat:
            self._event(self._chunk(chat, None))  # role chunk: must not stop the TTFT clock
        first = {
            "queue": QUEUE_STEP_S * self.server.in_flight,
            "slowfirst": SLOW_FIRST_S,
            "capacity": CAPACITY_FIRST_S,
        }.get(mode, self.server.first_token_s)
        time.sleep(first)
        tokens = {"truncated": 3, "abort": 3, "long": LONG_TOKENS, "capacity": CAPACITY_TOKENS}
        tokens = tokens.get(mode, self.server.tokens)
        itl = CAPACITY_ITL_S if mode == "capacity" else self.server.itl_s
        if mode in ("reason", "reason2") and chat:
            key = "reasoning_content" if mode == "reason" else "reasoning"
            for i in range(REASONING_TOKENS):
                self._event(self._chunk(chat, f" r{i}", key=key))
                time.sleep(ITL_S)
        last = received_at
        received_wall = time.time() - (time.perf_counter() - received_at)
        span = self.server.span(received_wall) if mode == "delay" else None
        for i in range(tokens):
            if i:
                time.sleep(STALL_S if mode == "stall" and i == tokens // 2 else itl)
            if mode == "split":
                text = " héllo→😀"
                data = f"data: {json.dumps(self._chunk(chat, text), ensure_ascii=False)}\n\n"
                raw = data.encode()
                for start in range(0, len(raw), 3):
                    self._write(raw[start : start + 3])
            else:
                self._event(self._chunk(chat, f" t{i}"))
            # Record what was really sent, so a loaded machine's sleep overshoot is not
            # mistaken for a measurement error.
            now = time.perf_counter()
            if mode == "delay":
                self.server.record("itl" if i else "ttft", now - last)
            last = now
        if span is not None:
            span[1] = time.time()
        if mode == "abort":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if mode != "truncated":
            finish = None if mode == "nofinish" else "length"
            self._event(self._chunk(chat, "", finish))
            usage: dict[str, Any] = {"prompt_tokens": 5}
            if chat and self.server.prompt_cache:
                usage = self.server.cache_usage(request["messages"])
            usage.update(completion_tokens=tokens, total_tokens=usage["prompt_tokens"] + tokens)
            self._event({"object": "chat.completion.chunk", "choices": [], "usage": usage})
            self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, first_token_s: float = FIRST_TOKEN_S, itl_s: float = ITL_S, tokens: int = TOKENS
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.first_token_s, self.itl_s, self.tokens = first_token_s, itl_s, tokens
        self.spans: list[list[float | None]] = []  # time.time() of "delay" requests: [in, out]
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.arrivals: list[float] = []  # perf_counter time each request was read
        self.bodies: list[dict[str, Any]] = []
        self.slots = threading.Semaphore(CAPACITY_SLOTS)
        self.prompt_cache = False
        self._cached_prefixes: set[str] = set()
        self.in_flight = 0
        self.truth: dict[str, list[float]] = {}  # ms the server really spent, per kind
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, mode: str, received_at: float, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests[mode] = self.requests.get(mode, 0) + 1
            if len(self.bodies) < MAX_RECORDED:
                self.arrivals.append(received_at)
                self.bodies.append(body)

    def cache_usage(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        def tokens(part: list[dict[str, Any]]) -> int:
            return sum(len(str(m.get("content", ""))) // 4 + 1 for m in part)

        keys = [json.dumps(messages[: n + 1]) for n in range(len(messages))]
        with self._lock:
            seen = [n + 1 for n, key in enumerate(keys) if key in self._cached_prefixes]
            hit = max(seen, default=0)
            if len(self._cached_prefixes) < MAX_RECORDED:
                self._cached_prefixes.update(keys)
        details = {"cached_tokens": tokens(messages[:hit])}
        return {"prompt_tokens": tokens(messages), "prompt_tokens_details": details}

    def forget(self) -> None:
        """Start recording afresh (before a run whose requests a test inspects)."""
        with self._lock:
            self.arrivals.clear()
            self.bodies.clear()

    def record(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.truth.setdefault(kind, []).append(seconds * 1000.0)

    def span(self, received: float) -> list[float | None]:
        """A "delay" request's span, to be closed when its last token is sent."""
        span: list[float | None] = [received, None]
        with self._lock:
            if len(self.spans) < MAX_RECORDED:
                self.spans.append(span)
        return span

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
