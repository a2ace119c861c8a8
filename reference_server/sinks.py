"""Where stream chunks are written: an SSE response (optionally compressed) or a WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sanic import Request

from .compression import negotiate, stream_compressor

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = "[DONE]"


class ClientGone(Exception):
    """The client stopped reading (or vanished); the connection has been dropped."""


def sse_event(payload: dict[str, Any] | str, named: bool = False) -> bytes:
    """One event; `named` adds an `event:` line with the payload's `type` (Responses streams)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    if named and isinstance(payload, dict) and isinstance(payload.get("type"), str):
        return f"event: {payload['type']}\ndata: {data}\n\n".encode()
    return f"data: {data}\n\n".encode()


class SseSink:
    """A text/event-stream response. Each event is compressed and flushed on its own, so a
    client decodes it the moment it arrives; a send that cannot complete within the stall
    timeout (a client that stopped reading) aborts the stream."""

    def __init__(
        self,
        request: Request,
        response: Any,
        coding: str,
        stall_timeout: float,
        named_events: bool = False,
    ) -> None:
        self._request = request
        self._named = named_events
        self._response = response
        self._compressor = stream_compressor(coding)
        self._stall_timeout = stall_timeout

    async def _write(self, data: bytes) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data)
        try:
            async with asyncio.timeout(self._stall_timeout):
                await self._response.send(data)
        except TimeoutError:
            self.abort()
            raise ClientGone(f"client did not read for {self._stall_timeout:g} s") from None

    def abort(self) -> None:
        """Drops the connection: a stalled stream must not look complete to its client."""
        transport = getattr(self._request, "transport", None)
        if transport is not None:
            transport.abort()

    async def send(self, payload: dict[str, Any]) -> None:
        await self._write(sse_event(payload, self._named))

    async def comment(self, text: str) -> None:
        await self._write(f": {text}\n\n".encode())

    async def finish(self, done: bool = True) -> None:
        if done:
            await self._write(sse_event(DONE))
        tail = self._compressor.finish() if self._compressor is not None else b""
        if tail:
            await self._response.send(tail)
        await self._response.eof()


async def open_sse(request: Request, named_events: bool = False) -> SseSink:
    config = request.app.ctx.config
    coding = negotiate(request.headers.get("accept-encoding"))
    headers = dict(SSE_HEADERS)
    headers["Vary"] = "Accept-Encoding"
    if coding != "identity":
        headers["Content-Encoding"] = coding
    response = await request.respond(content_type="text/event-stream", headers=headers)
    return SseSink(request, response, coding, config.stream_stall_timeout, named_events)


class WebSocketSink:
    """The same chunk objects as the SSE stream, one JSON text message each, then "[DONE]".

    As on SSE, a send waits for the socket, and one that cannot complete within the stall
    timeout (a client that stopped reading) drops the connection."""

    def __init__(self, ws: Any, stall_timeout: float | None = None) -> None:
        self._ws = ws
        self._stall_timeout = stall_timeout

    async def send(self, payload: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self._stall_timeout):
                await self._ws.send(json.dumps(payload, ensure_ascii=False))
        except TimeoutError:
            self._ws.fail_connection(1011, "client stopped reading")
            raise ClientGone(f"client did not read for {self._stall_timeout:g} s") from None

    async def comment(self, text: str) -> None:
        await self._ws.ping()

    async def finish(self, done: bool = True) -> None:
        if done:
            await self._ws.send(DONE)

    def abort(self) -> None:
        """Nothing to do: the socket handler closes the WebSocket when the stream ends."""
