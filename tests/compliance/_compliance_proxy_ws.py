"""The mutating proxy's WebSocket side: an upgrade of `GET /v1/responses` is relayed to the real
server's WebSocket mode, turn by turn, and each turn's messages pass the mutation's hooks the way
a stream's events do (`request` on the `response.create` body, `events` on what comes back).

The client side speaks just enough of RFC 6455 for the suite's client: the handshake without
extensions, whole (unfragmented) text frames, ping and close.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any, BinaryIO

from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
ENDS_TURN = ("response.completed", "response.incomplete", "response.failed", "error")
TURN_TIMEOUT_S = 60.0
MAX_TURN_MESSAGES = 5000


def is_upgrade(headers: Any) -> bool:
    return str(headers.get("Upgrade", "")).lower() == "websocket"


def relay(handler: Any, upstream_root: str, mutation: Any) -> None:
    """Serve one upgraded connection on `handler` (a BaseHTTPRequestHandler), relaying its turns
    to `upstream_root` (http://HOST:PORT) through the mutation."""
    path = handler.path
    url = "ws" + upstream_root.removeprefix("http") + path
    auth = {k: v for k, v in handler.headers.items() if k.lower() == "authorization"}
    try:
        with connect(url, additional_headers=auth or None, max_size=None, proxy=None) as upstream:
            _switch(handler)
            _serve(handler.rfile, handler.wfile, upstream, path, mutation)
    except InvalidStatus as exc:  # the real server refused the upgrade: so does the proxy
        handler.send_response(exc.response.status_code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(exc.response.body or b"")))
        handler.end_headers()
        handler.wfile.write(exc.response.body or b"")
    except (OSError, WebSocketException):  # either side went away: so does the connection
        pass
    handler.close_connection = True


def _switch(handler: Any) -> None:
    key = handler.headers["Sec-WebSocket-Key"]
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    handler.wfile.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    handler.wfile.flush()


def _serve(rfile: BinaryIO, wfile: BinaryIO, upstream: Any, path: str, mutation: Any) -> None:
    while True:
        opcode, payload = _read_frame(rfile)
        if opcode == _CLOSE:
            _write_frame(wfile, _CLOSE, payload[:2])
            return
        if opcode == _PING:
            _write_frame(wfile, _PONG, payload)
            continue
        if opcode != _TEXT:
            continue
        message = payload.decode("utf-8")
        try:
            body = json.loads(message)
        except ValueError:
            body = None
        if isinstance(body, dict):
            body = mutation.request(path, body)
            message = json.dumps(body)
        upstream.send(message)
        for answer in mutation.events(path, body, _turn(upstream)):
            _write_frame(wfile, _TEXT, answer.encode())


def _turn(upstream: Any) -> list[str]:
    messages: list[str] = []
    while len(messages) < MAX_TURN_MESSAGES:
        try:
            data = upstream.recv(timeout=TURN_TIMEOUT_S)
        except TimeoutError:
            break
        messages.append(data if isinstance(data, str) else data.decode("utf-8"))
        try:
            kind = json.loads(messages[-1]).get("type")
        except (ValueError, AttributeError):
            kind = None
        if kind in ENDS_TURN:
            break
    return messages


def _read_frame(rfile: BinaryIO) -> tuple[int, bytes]:
    head = rfile.read(2)
    if len(head) < 2:
        return _CLOSE, b""
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", rfile.read(8))[0]
    mask = rfile.read(4) if head[1] & 0x80 else b""
    data = rfile.read(length)
    if mask:
        data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    return opcode, data


def _write_frame(wfile: BinaryIO, opcode: int, data: bytes) -> None:
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    wfile.write(header + data)
    wfile.flush()
