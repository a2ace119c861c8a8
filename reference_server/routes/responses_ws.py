"""The Responses API over WebSocket: GET /v1/responses (upgrade), OpenAI's WebSocket mode.

One connection carries sequential responses. Each turn is a `response.create` message (the
create body plus `type`; `stream` and `stream_options` are ignored, every turn streams) and is
answered with the same typed events as the SSE stream, without `[DONE]`: the terminal event
(`response.completed`, `.incomplete`, `.failed`) ends the turn. A turn that cannot start is one
`error` event, `{"type": "error", "status", "error": {"type", "code", "message", "param"}}`, and
the connection stays open.

Continuation: the connection keeps its most recent response, stored or not, so a turn may
continue it by `previous_response_id` with only the new input (a `store: false` chain lives
only on its connection: after a reconnect its id is `previous_response_not_found`). Other ids
are looked up in the response store. A turn that fails forgets the response it continued, so a
retry cannot build on state the failure may have left stale.

Bounds: one response in flight (messages wait in the socket until the turn ends), one response
remembered, an idle limit between turns, a lifetime per connection and, per message, Sanic's
WebSocket size limit. Closing the socket cancels the turn in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from sanic import Request
from sanic.exceptions import WebsocketClosed

from .. import accounting
from ..errors import ApiError, invalid_request
from ..responses_store import ResponseStore, StoredResponse
from ..sinks import WebSocketSink
from ..validation import validate_request
from .responses import prepare_response, response_events, stream_response
from .websocket import read_message

IDLE_TIMEOUT = 600.0  # between turns: a client runs its tools in this time
CONNECTION_LIFETIME = 3600.0  # OpenAI closes a WebSocket-mode connection after 60 minutes
_NORMAL_CLOSURE = 1000
CREATE = "response.create"


class ConnectionResponses:
    """What one connection remembers: its latest response, in front of the store."""

    def __init__(self, store: ResponseStore) -> None:
        self._store = store
        self._latest: StoredResponse | None = None

    def get(self, response_id: str) -> StoredResponse | None:
        latest = self._latest
        if latest is not None and latest.response["id"] == response_id:
            return latest
        return self._store.get(response_id)

    def remember(self, stored: StoredResponse) -> None:
        self._latest = stored

    def forget(self, response_id: str | None) -> None:
        if self._latest is not None and self._latest.response["id"] == response_id:
            self._latest = None


def error_event(error: ApiError) -> dict[str, Any]:
    """An error as WebSocket mode sends it: the envelope plus `type` and `status` (a code is
    always present: the error type stands in when the error has none)."""
    envelope = error.envelope()["error"]
    return {
        "type": "error",
        "status": error.status,
        "error": {**envelope, "code": envelope.get("code") or envelope["type"]},
    }


async def responses_ws(request: Request, ws: Any) -> None:
    connection = ConnectionResponses(request.app.ctx.responses)
    ends_at = time.monotonic() + CONNECTION_LIFETIME
    first = True
    try:
        while (left := ends_at - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(ws.recv(), min(IDLE_TIMEOUT, left))
            except TimeoutError:
                break
            except WebsocketClosed:
                return
            if message is None:
                return  # the client closed the connection
            if not first:  # every turn is a request of its own in /metrics
                request.ctx.accounted = None
                accounting.start(request)
            first = False
            await _turn(request, ws, connection, message)
        with contextlib.suppress(WebsocketClosed):
            await ws.close(code=_NORMAL_CLOSURE, reason="idle or lifetime limit reached")
    finally:
        # A turn records its own outcome; a connection closed before any turn is a client gone.
        if getattr(request.ctx, "accounted", None) == "started":
            accounting.finish(request, accounting.CANCELLED)


async def _turn(
    request: Request, ws: Any, connection: ConnectionResponses, message: str | bytes
) -> None:
    from ..app import to_api_error

    body: dict[str, Any] = {}
    try:
        body = _create_body(read_message(message))
        body = validate_request("createResponse", body, request.app.ctx.config.validation_profile)
        prepared = prepare_response(request, body, connection)
        formatter = response_events(request, prepared, connection.remember)
        sink = WebSocketSink(ws, request.app.ctx.config.stream_stall_timeout)

        async def open_sink() -> WebSocketSink:
            return sink

        await stream_response(request, prepared, formatter, open_sink, done_sentinel=False)
        if formatter.final is None:  # response.failed: what it continued may be stale
            connection.forget(body.get("previous_response_id"))
        return
    except UnicodeDecodeError:
        error = invalid_request("the message is not valid UTF-8")
    except ApiError as exc:
        error = exc
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the envelope, never a dropped socket without a reason
        error = to_api_error(exc)
    previous = body.get("previous_response_id") if isinstance(body, dict) else None
    connection.forget(previous)
    accounting.finish(request, accounting.outcome_of(error.status))
    with contextlib.suppress(WebsocketClosed):  # the client left: the next recv ends the loop
        await ws.send(json.dumps(error_event(error), ensure_ascii=False))


def _create_body(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("type") != CREATE:
        kind = message.get("type") if isinstance(message, dict) else None
        raise invalid_request(
            f"Unknown client event type {kind!r}: this connection accepts '{CREATE}' messages.",
            "type",
            code="unknown_event_type",
        )
    body = {key: value for key, value in message.items() if key != "type"}
    body.pop("stream", None)
    body.pop("stream_options", None)
    return body
