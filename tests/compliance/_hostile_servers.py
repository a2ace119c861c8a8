"""Hostile servers on loopback: each answers `GET /v1/models` properly (so a suite run reaches
the API tests) and every other request with one way of attacking its client.

    with HostileServer(CASES["gzip-bomb"]) as server:
        ApiClient(server.base_url, None, timeout=2.0).post("/chat/completions", {...})

Each case names the rule the suite's client reports for it. Every loop here is bounded in
count and time, and stops when its client has gone or the server stops.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
MODEL_ID = "hostile"
MAX_BEHAVIOUR_S = 300.0  # no attack outlives this, even if its client never goes away
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def streams(self) -> bool:
        try:
            return json.loads(self.body).get("stream") is True
        except (ValueError, AttributeError):
            return False


class Peer:
    """The client's connection as the attack sees it: sends report whether anyone still listens."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self._stopping = stopping
        self._until = time.monotonic() + MAX_BEHAVIOUR_S

    @property
    def alive(self) -> bool:
        return not self._stopping.is_set() and time.monotonic() < self._until

    def send(self, data: bytes) -> bool:
        if not self.alive:
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def pause(self, seconds: float) -> bool:
        """Waits, unless the server stops; False when the attack should end."""
        return not self._stopping.wait(seconds) and self.alive

    def hold(self) -> None:
        """Keeps the connection open and silent until the client leaves or the server stops."""
        self.sock.settimeout(0.1)
        while self.alive:
            try:
                if self.sock.recv(65536) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def reset(self) -> None:
        """Closes with a TCP reset instead of an orderly end."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# An attack returns True when its answer was complete and framed, so that the connection can
# serve the next request (as a keep-alive server would); anything else closes it.
Behaviour = Callable[[Peer, Request], bool | None]


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # one line for reports
    behave: Behaviour
    plain: str  # what the suite's client reports for a plain request (see `verdict`)...
    stream: str = ""  # ...and for a streamed one, when it differs

    @property
    def expected_for_stream(self) -> str:
        return self.stream or self.plain


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def _chunk(text: str = "hi") -> bytes:
    payload = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


_SSE_HEAD = _head("200 OK", {"Content-Type": "text/event-stream", "Connection": "close"})


# -- the attacks ---------------------------------------------------------------------------------


def trickle_headers(peer: Peer, request: Request) -> None:
    if not peer.send(b"HTTP/1.1 200 OK\r\nX-Trickle: "):
        return
    for _ in range(100_000):
        if not (peer.send(b"a") and peer.pause(0.05)):
            return


def endless_stream(peer: Peer, request: Request) -> None:
    if not peer.send(_SSE_HEAD):
        return
    for _ in range(1_000_000):  # never [DONE]
        if not (peer.send(_chunk()) and peer.pause(0.01)):
            return


def huge_body(peer: Peer, request: Request) -> None:
    size = 8 * 1024**3
    head = {"Content-Type": "application/json", "Content-Length": str(size)}
    if not peer.send(_head("200 OK", head) + b'{"data": "'):
        return
    block = b"x" * 65536
    for _ in range(size // len(block)):
        if not peer.send(block):
            return


def invalid_utf8(peer: Peer, request: Request) -> bool:
    bad = b'{"id": "x", "object": "chat.completion", "text": "\xff\xfe\xc3"}'
    if request.streams:
        body = _chunk() + b"data: " + bad + b"\n\ndata: [DONE]\n\n"
        peer.send(_SSE_HEAD + body)
        return False
    head = {"Content-Type": "application/json", "Content-Length": str(len(bad))}
    return peer.send(_head("200 OK", head) + bad)


def _bomb_blocks() -> tuple[bytes, bytes]:
    """A gzip header with one MiB of zeros, and a block that inflates to one more MiB of zeros.

    After a full flush the compressor's output depends only on what follows, so the same
    ~1 KiB block repeated forever is a valid, endless gzip stream: about a GiB per MiB sent.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first, block


_BOMB: list[tuple[bytes, bytes]] = []


def gzip_bomb(peer: Peer, request: Request) -> None:
    if not _BOMB:
        _BOMB.append(_bomb_blocks())
    first, block = _BOMB[0]
    kind = "text/event-stream" if request.streams else "application/json"
    head = {"Content-Type": kind, "Content-Encoding": "gzip", "Connection": "close"}
    if not peer.send(_head("200 OK", head) + first):
        return
    burst = block * 64  # 64 MiB decoded per ~66 KB sent
    for _ in range(100_000):
        if not peer.send(burst):
            return


def wrong_content_length(peer: Peer, request: Request) -> None:
    body = json.dumps({"object": "list", "data": []}).encode()
    head = {"Content-Type": "application/json", "Content-Length": "1000000"}
    if peer.send(_head("200 OK", head) + body):
        peer.hold()


def reset_mid_body(peer: Peer, request: Request) -> None:
    if request.streams:
        peer.send(_SSE_HEAD + _chunk() * 3 + b'data: {"id": "chatcmpl-hos')
    else:
        head = {"Content-Type": "application/json", "Content-Length": "100000"}
        peer.send(_head("200 OK", head) + b'{"id": "chatcmpl-hostile", "choices": [' + b" " * 900)
    peer.pause(0.05)
    peer.reset()


def redirect_loop(peer: Peer, request: Request) -> bool:
    head = {"Location": request.path, "Content-Length": "0"}
    return peer.send(_head("307 Temporary Redirect", head))


def many_events(peer: Peer, request: Request) -> None:
    if not peer.send(_SSE_HEAD):
        return
    batch = _chunk("a") * 1000
    for _ in range(100):  # 100,000 events, then [DONE]
        if not peer.send(batch):
            return
    peer.send(b"data: [DONE]\n\n")


# What a TLS server sends first after a ClientHello: a handshake record (ServerHello).
_TLS_SERVER_HELLO = (
    b"\x16\x03\x03\x00\x4a\x02\x00\x00\x46\x03\x03" + bytes(32) + b"\x20" + bytes(32)
)


def tls_handshake(peer: Peer, request: Request) -> None:
    if peer.send(_TLS_SERVER_HELLO):
        peer.hold()


def silent(peer: Peer, request: Request) -> None:
    peer.hold()


def endless_event(peer: Peer, request: Request) -> None:
    if not peer.send(_SSE_HEAD + b"data: "):
        return
    block = b"a" * 65536
    for _ in range(1_000_000):  # one event line that never ends
        if not peer.send(block):
            return


def huge_header(peer: Peer, request: Request) -> None:
    if not peer.send(b"HTTP/1.1 200 OK\r\nX-Huge: "):
        return
    for _ in range(10_000):  # a header line of up to 640 MB
        if not peer.send(b"h" * 65536):
            return


DEADLINE = "deadline"
CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("trickle-headers", "headers trickle in at 20 bytes/s", trickle_headers, DEADLINE),
        Case("endless-stream", "an SSE stream that never ends", endless_stream, DEADLINE),
        Case(
            "huge-body",
            "an 8 GiB JSON body",
            huge_body,
            "transport.size-limit",
            stream="characters without ending",
        ),
        Case(
            "invalid-utf8",
            "invalid UTF-8 in SSE and in JSON",
            invalid_utf8,
            "body not JSON",
            stream="invalid UTF-8",
        ),
        Case(
            "gzip-bomb",
            "an endless gzip bomb (1 GiB per MiB sent)",
            gzip_bomb,
            "transport.decoded-size-limit",
            stream="characters without ending",  # zeros: one endless line, cut by the parser
        ),
        Case(
            "wrong-content-length",
            "Content-Length 1,000,000 for a 30-byte body",
            wrong_content_length,
            DEADLINE,
        ),
        Case("reset-mid-body", "a TCP reset mid-body", reset_mid_body, "transport.connection"),
        Case("redirect-loop", "307 to itself, every time", redirect_loop, "status 307"),
        Case(
            "100k-events",
            "100,000 events before [DONE]",
            many_events,
            "body not JSON",
            stream="max_events",
        ),
        Case(
            "tls-handshake",
            "a TLS ServerHello on a plaintext port",
            tls_handshake,
            "transport.tls-on-plaintext",
        ),
        Case("silent", "accepts, reads, never answers", silent, DEADLINE),
        Case(
            "endless-event",
            "one SSE line that never ends",
            endless_event,
            "transport.size-limit",
            stream="characters without ending",
        ),
        Case("huge-header", "a header line without end", huge_header, "transport.protocol"),
    )
}

_MODELS = json.dumps(
    {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests"}],
    }
).encode()


class HostileServer:
    """One case on a loopback port; a thread per connection."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self._stopping = threading.Event()
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self.connections = 0
        self.requests = 0

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._accepting.join(timeout=5.0)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        peer = Peer(sock, self._stopping)
        try:
            sock.settimeout(10.0)
            while peer.alive:  # keep-alive: the sane answers leave the connection open
                request = _read_request(sock)
                if request is None:
                    return
                self.requests += 1
                if request.method == "GET" and request.path.rstrip("/").endswith("/v1/models"):
                    head = {"Content-Type": "application/json", "Content-Length": str(len(_MODELS))}
                    if not peer.send(_head("200 OK", head) + _MODELS):
                        return
                    continue
                if not self.case.behave(peer, request):
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = ([*lines[0].split(" "), "", ""])[:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), _MAX_BODY)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return Request(method, path, headers, body[:length])
