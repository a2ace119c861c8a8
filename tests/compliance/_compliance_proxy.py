"""A loopback proxy in front of a real server that injects one deviation into its answers.

Each broken server of the catalogue is a small transform of real responses, so the suite is
tested against realistic traffic rather than hand-written fixtures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from _compliance_proxy_ws import is_upgrade, relay

from inferno import sse

Json = Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes | Iterator[bytes]


@dataclass
class Mutation:
    """Hooks applied to traffic; every hook defaults to passing things through unchanged."""

    request: Callable[[str, Json], Json] = lambda path, body: body
    json: Callable[[str, Json, int, Json], tuple[int, Json]] = lambda p, req, s, obj: (s, obj)
    events: Callable[[str, Json, list[str]], list[str]] = lambda p, req, ev: ev
    frame: Callable[[list[str]], Iterator[bytes]] | None = None
    stream_content_type: str = "text/event-stream"
    handle: Callable[[str, str, bytes], Reply | None] | None = None  # full override
    authorize: Callable[[dict[str, str]], Reply | None] | None = None  # sees the headers
    strip_encoding: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def default_frame(events: list[str]) -> Iterator[bytes]:
    for data in events:
        yield f"data: {data}\n\n".encode()


class MutatingProxy:
    def __init__(self, upstream: str, mutation: Mutation) -> None:
        self.upstream = upstream.rstrip("/")
        self.mutation = mutation
        self.http = httpx.Client(timeout=60.0)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MutatingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    # -- request handling -------------------------------------------------------------------

    def refusal(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply | None:
        """What the mutation answers instead of the server (a refused key, an absent route)."""
        m = self.mutation
        refused = m.authorize(headers) if m.authorize is not None else None
        if refused is None and m.handle is not None:
            refused = m.handle(method, path, raw)
        return refused

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        m = self.mutation
        refused = self.refusal(method, path, headers, raw)
        if refused is not None:
            return refused
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if isinstance(body, dict):
            body = m.request(path, body)
            raw = json.dumps(body).encode()
        forward = {
            k: v
            for k, v in headers.items()
            if k.lower() in ("authorization", "content-type", "accept", "accept-encoding")
        }
        if m.strip_encoding:
            forward.pop("accept-encoding", None)
            forward.pop("Accept-Encoding", None)
        streaming = isinstance(body, dict) and body.get("stream") is True
        if streaming:
            return self._stream(method, path, body, raw, forward)
        upstream = self.http.request(
            method, self.upstream + path, content=raw or None, headers=forward
        )
        content_type = upstream.headers.get("content-type", "")
        out_headers = {"Content-Type": content_type} if content_type else {}
        if "retry-after" in upstream.headers:
            out_headers["Retry-After"] = upstream.headers["retry-after"]
        if "application/json" in content_type:
            status, obj = m.json(path, body, upstream.status_code, upstream.json())
            if isinstance(obj, (bytes, str)):
                data = obj.encode() if isinstance(obj, str) else obj
            else:
                data = json.dumps(obj).encode()
            return Reply(status, out_headers, data)
        return Reply(upstream.status_code, out_headers, upstream.content)

    def _stream(self, method: str, path: str, body: Json, raw: bytes, headers: dict) -> Reply:
        m = self.mutation
        with self.http.stream(method, self.upstream + path, content=raw, headers=headers) as up:
            if up.status_code != 200:
                up.read()
                content_type = up.headers.get("content-type", "application/json")
                data = up.content
                if "application/json" in content_type:
                    status, obj = m.json(path, body, up.status_code, json.loads(data))
                    data = json.dumps(obj).encode()
                    return Reply(status, {"Content-Type": content_type}, data)
                return Reply(up.status_code, {"Content-Type": content_type}, data)
            upstream_events = sse.parse(up.read())
        events = m.events(path, body, [event.data for event in upstream_events])
        frames = (m.frame or default_frame)(events)
        return Reply(200, {"Content-Type": m.stream_content_type}, frames)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                if is_upgrade(self.headers):  # the WebSocket mode, relayed turn by turn
                    refused = proxy.refusal(self.command, self.path, dict(self.headers), b"")
                    if refused is None:
                        relay(self, proxy.upstream, proxy.mutation)
                        return
                    self.close_connection = True
                    self._write(refused)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    reply = proxy.respond(self.command, self.path, dict(self.headers), raw)
                except Exception as exc:  # a proxy bug must surface, not hang the client
                    reply = Reply(502, {"Content-Type": "text/plain"}, f"proxy: {exc!r}".encode())
                try:
                    self._write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if isinstance(reply.body, bytes):
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in reply.body:
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            do_GET = _serve
            do_POST = _serve
            do_PUT = _serve
            do_DELETE = _serve

        return Handler


def endless(events: list[str]) -> Iterator[bytes]:
    """Repeat the last content chunk forever (bounded only by the client hanging up)."""
    body = [e for e in events if e != "[DONE]"]
    yield from default_frame(body[:-1])
    filler = body[1] if len(body) > 1 else body[0]
    deadline = time.monotonic() + 120  # the proxy itself must not outlive the test
    while time.monotonic() < deadline:
        yield f"data: {filler}\n\n".encode()
        time.sleep(0.001)
