"""Reading a streamed HTTP body from geventhttpclient as bytes arrive.

Locust's ``iter_content``/``iter_lines`` call ``read(n)``, which blocks until ``n`` bytes (or the
end) have arrived: small SSE events then sit in the buffer and TTFT/ITL come out late. Here each
call returns whatever the socket delivered, after a single ``recv``.
"""

from __future__ import annotations

from typing import Any

RECV_SIZE = 64 * 1024
# Chunked-encoding framing alone can arrive without payload; a few empty rounds are normal.
MAX_EMPTY_ROUNDS = 1000


class BodyClosed(ConnectionError):
    """The peer closed the connection before the HTTP message was complete."""


def read_some(raw: Any) -> bytes:
    """Return the next available body bytes (blocking on one recv at most per round); b"" at end."""
    buffer = raw._body_buffer
    for _ in range(MAX_EMPTY_ROUNDS):
        if buffer:
            data = bytes(buffer)
            del buffer[:]
            return data
        sock = raw._sock
        if raw.message_complete or sock is None:
            return b""
        chunk = sock.recv(RECV_SIZE)
        if not chunk:
            discard(raw)
            raise BodyClosed("connection closed before the end of the response body")
        raw.feed(chunk)
    raise BodyClosed("no body bytes after many reads")


def discard(raw: Any) -> None:
    """Close a connection left mid-body, so the pool never hands out a half-read socket."""
    sock, pool = getattr(raw, "_sock", None), getattr(raw, "_pool", None)
    if sock is None:
        return
    raw._sock = None
    raw._pool = None
    if pool is not None:
        pool.release_socket(sock)
    else:
        sock.close()
