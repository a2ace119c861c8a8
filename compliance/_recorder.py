"""A loopback forwarder that records what a client sent and what came back.

The `clients` area points each client library at it instead of at the server under test, so a
failing flow can show the HTTP exchanges that broke it, whatever HTTP stack the client uses.
Bodies are forwarded as they arrive (streams stay streams); only excerpts are kept.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

EXCERPT = 1200
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


@dataclass
class Recorded:
    at: float
    method: str
    url: str
    request: bytes
    status: int | None = None
    response: bytes = b""
    error: str = ""

    def describe(self) -> str:
        body = self.request[:EXCERPT].decode("utf-8", "replace")
        answer = self.error or self.response[:EXCERPT].decode("utf-8", "replace")
        return f"{self.method} {self.url} {body}\n  -> {self.status}: {answer}"

    def curl(self) -> str:
        parts = ["curl", "-sS", "-X", self.method, self.url, "-H", "Content-Type: application/json"]
        if self.request:
            parts += ["--data-raw", self.request[:4000].decode("utf-8", "replace")]
        return " ".join(shlex.quote(p) for p in parts)


class Recorder:
    def __init__(self, upstream_root: str, timeout: float, max_records: int = 500) -> None:
        self.upstream = upstream_root.rstrip("/")
        self.records: list[Recorded] = []
        self._lock = threading.Lock()
        self._max = max_records
        self._http = httpx.Client(timeout=httpx.Timeout(timeout))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def between(self, start: float, end: float) -> list[Recorded]:
        with self._lock:
            return [r for r in self.records if start - 0.5 <= r.at <= end + 0.5]

    def _keep(self, record: Recorded) -> None:
        with self._lock:
            if len(self.records) < self._max:
                self.records.append(record)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = recorder.upstream + self.path
                record = Recorded(time.time(), self.command, url, _compact(raw))
                recorder._keep(record)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                sent = False
                try:
                    with recorder._http.stream(
                        self.command, url, content=raw or None, headers=headers
                    ) as up:
                        record.status = up.status_code
                        sent = True
                        self.send_response(up.status_code)
                        for key, value in up.headers.items():
                            if key.lower() not in HOP_HEADERS | {"content-encoding"}:
                                self.send_header(key, value)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for piece in up.iter_bytes():
                            if len(record.response) < EXCERPT:
                                record.response += piece[: EXCERPT - len(record.response)]
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                except (httpx.HTTPError, OSError) as exc:
                    record.error = f"{type(exc).__name__}: {exc}"
                    self.close_connection = True
                    if not sent:  # the client gets an answer, not a hang
                        self.send_response(502)
                        self.send_header("Content-Length", "0")
                        self.end_headers()

            do_GET = _serve
            do_POST = _serve
            do_DELETE = _serve

        return Handler


def _compact(raw: bytes) -> bytes:
    try:
        return json.dumps(json.loads(raw)).encode() if raw else b""
    except ValueError:
        return raw
