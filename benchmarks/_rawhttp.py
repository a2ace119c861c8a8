"""A minimal HTTP/1.1 keep-alive client: the load generator of every workload.

On a 2-core machine the load generator competes with the server for the CPU. A general client
such as httpx spent more time per request here than a fast server does (about 150 req/s
against 5,000 with this client, same server), which would flatten the very differences the
benchmark exists to show. This one does only what the workloads need: one request at a time per
connection; Content-Length, chunked or read-until-close bodies; each piece of body handed on
with its arrival time, so stream timing sees bytes as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from inferno.content_encoding import body_decoder

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_PIECES = 1_000_000
READ_SIZE = 64 * 1024

OnBody = Callable[[bytes, float], None]


class RawConnection:
    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        on_body: OnBody | None = None,
        accept: str = "application/json",
    ) -> tuple[int | None, str | None]:
        """Returns (status, error); a transport error or timeout closes the connection."""
        exchange = self._exchange(method, path, body, on_body or _discard, accept)
        try:
            try:
                status, keep = await asyncio.wait_for(exchange, self.timeout_s)
            except _StaleConnection:
                # The server closed an idle keep-alive connection (llama-server does so after
                # every stream); like any HTTP client, send again on a new one, once.
                await self.close()
                retry = self._exchange(method, path, body, on_body or _discard, accept)
                status, keep = await asyncio.wait_for(retry, self.timeout_s)
        except TimeoutError:
            await self.close()
            return None, f"timeout after {self.timeout_s:g} s"
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.close()
            return None, f"{type(exc).__name__}: {exc}"
        if not keep:
            await self.close()
        return status, None if status == 200 else f"HTTP {status}"

    async def _exchange(
        self, method: str, path: str, body: dict[str, Any] | None, on_body: OnBody, accept: str
    ) -> tuple[int, bool]:
        reused = self._writer is not None
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Accept: {accept}\r\nAccept-Encoding: identity\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        try:
            writer.write(head.encode() + b"\r\n" + payload)
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if reused and not getattr(exc, "partial", b""):
                raise _StaleConnection from exc
            raise
        if len(raw) > MAX_HEADER_BYTES:
            raise ValueError("response headers too large")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip().lower()
        decode = body_decoder(headers.get("content-encoding"))
        deliver: OnBody = lambda data, now: on_body(decode(data), now)  # noqa: E731
        keep = headers.get("connection") != "close"
        if "chunked" in headers.get("transfer-encoding", ""):
            await _read_chunked(reader, deliver)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > MAX_BODY_BYTES:
                raise ValueError("response body too large")
            data = await reader.readexactly(length)
            deliver(data, time.perf_counter())
        else:  # delimited by the end of the connection
            await _read_to_close(reader, deliver)
            keep = False
        return status, keep


async def _read_chunked(reader: asyncio.StreamReader, deliver: OnBody) -> None:
    total = 0
    for _ in range(MAX_PIECES):
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # trailers are not used: this is the final CRLF
            return
        total += size
        if total > MAX_BODY_BYTES:
            raise ValueError("response body too large")
        data = await reader.readexactly(size + 2)
        deliver(data[:-2], time.perf_counter())
    raise ValueError("too many chunks")


async def _read_to_close(reader: asyncio.StreamReader, deliver: OnBody) -> None:
    total = 0
    for _ in range(MAX_PIECES):
        data = await reader.read(READ_SIZE)
        if not data:
            return
        total += len(data)
        if total > MAX_BODY_BYTES:
            raise ValueError("response body too large")
        deliver(data, time.perf_counter())
    raise ValueError("body too long")


class _StaleConnection(Exception):
    """A reused connection was closed by the server before it answered anything."""


def _discard(_data: bytes, _now: float) -> None:
    return None
