"""The suite's WebSocket client, for the Responses API's WebSocket mode (`GET /v1/responses`
upgraded): one connection carries sequential turns, each a `response.create` message answered
with the stream's events up to a terminal event (or one `error` event when the turn cannot start).

Bounded like every exchange of the suite: a deadline per handshake and per turn, a number of
messages per turn and a size per message, so a server that never ends a turn is a finding, not a
hang. Each turn is an `Exchange` (method `WS`), so failures show what was sent and what came.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from compliance._client import ApiClient, Exchange
from compliance._endpoints import UNRESPONSIVE
from compliance._endpoints import WATCH as ENDPOINTS
from compliance._sse import SSEEvent, SSEResult

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # as an SSE event: the terminal event repeats the response
CLOSE_TIMEOUT_S = 2.0
CREATE = "response.create"
ENDS_TURN = ("response.completed", "response.incomplete", "response.failed", "error")
# Answers to an upgrade that say "no WebSocket here"; a 5xx or a broken handshake is a fault.
NOT_OFFERED = {200, 400, 404, 405, 426, 501}


def ws_url(base_url: str) -> str:
    """`ws://HOST:PORT/v1/responses` for `http://HOST:PORT/v1` (wss for https)."""
    scheme, _, rest = base_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/responses"


@dataclass(repr=False)
class WsExchange(Exchange):
    """One turn (or a refused handshake): the message sent and the messages that came back."""

    def curl(self) -> str:
        # No curl for WebSocket: the same turn with the client the suite uses.
        headers = {"Authorization": "Bearer ***"} if "authorization" in _lower(self) else {}
        message = (self.request_body or b"").decode("utf-8", errors="replace")[:4000]
        code = (
            "from websockets.sync.client import connect; "
            f"ws = connect({self.url!r}, additional_headers={headers!r}); "
            f"ws.send({message!r}); [print(m) for m in ws]"
        )
        return f"python -c {shlex.quote(code)}"


class Offered(NamedTuple):
    """Whether the server upgrades `GET /responses` to a WebSocket, and why not."""

    present: bool
    reason: str
    exchange: WsExchange


class Connection:
    """One WebSocket-mode connection of the suite (a context manager)."""

    def __init__(self, client: ApiClient) -> None:
        self.url = ws_url(client.base_url)
        self.http_url = client.url("/responses")  # the endpoint family the watch knows
        self.headers = client.headers()
        self.timeout = client.timeout
        self._socket: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Offered:
        """The handshake; a refused one is kept as an exchange that says what came back."""
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        record = WsExchange("WS", self.url, dict(self.headers), None)
        refusal = ENDPOINTS.refusal(self.http_url)
        if refusal is not None:  # the responses endpoints stopped answering: do not wait again
            record.error, record.error_rule = refusal, UNRESPONSIVE.id
            return Offered(True, "", record)
        start = time.monotonic()
        try:
            # Entered as a context manager, as every websockets release since 15 accepts.
            self._socket = self._stack.enter_context(
                connect(
                    self.url,
                    additional_headers=self.headers or None,
                    open_timeout=ENDPOINTS.headers_wait(self.http_url, self.timeout),
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=MAX_MESSAGE_BYTES,
                    proxy=None,  # as the HTTP client: no proxy from the environment
                )
            )
        except InvalidStatus as exc:
            record.status = exc.response.status_code
            record.headers = {k.lower(): v for k, v in exc.response.headers.raw_items()}
            record.body = bytes(exc.response.body or b"")
        except TimeoutError as exc:  # no answer to the upgrade: an expiry like any exchange's
            ENDPOINTS.expired(self.http_url)
            record.error, record.error_rule = f"TimeoutError: {exc}", "transport.deadline"
        except Exception as exc:  # a broken handshake: the server claimed the route and failed
            record.error, record.error_rule = f"{type(exc).__name__}: {exc}", "transport"
        else:
            record.status = 101
        if record.status is not None:
            ENDPOINTS.answered(self.http_url)
        record.elapsed = time.monotonic() - start
        if record.status in NOT_OFFERED:
            return Offered(False, f"server answered {record.status} to the upgrade", record)
        return Offered(True, "", record)

    def turn(self, body: dict[str, Any], max_events: int) -> WsExchange:
        """Send one `response.create` turn and read its messages up to the message that ends
        it, within the deadline and `max_events` (kept in `sse`, as a stream's events)."""
        message = json.dumps({"type": CREATE, **body})
        record = WsExchange("WS", self.url, dict(self.headers), message.encode(), status=101)
        result = SSEResult()
        start = time.monotonic()
        try:
            self._require_open().send(message)
            _read_turn(self._socket, result, start + self.timeout, max_events)
        except Exception as exc:  # the connection broke mid-turn: a finding of the turn
            result.stopped = f"error: {type(exc).__name__}: {exc}"
        result.elapsed = record.elapsed = time.monotonic() - start
        result.raw_excerpt = "\n".join(e.data for e in result.events)[:4000]
        record.sse = result
        return record

    def close(self) -> None:
        # Closing a broken socket: nothing left to learn from it.
        with contextlib.suppress(Exception):
            self._stack.close()
        self._socket = None

    def _require_open(self) -> Any:
        if self._socket is None:
            offered = self.open()
            if self._socket is None:
                raise ConnectionError(offered.reason or offered.exchange.error or "no connection")
        return self._socket


def turn_type(data: str) -> str | None:
    """The `type` of a message, or None when it is not a JSON object with one."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    kind = message.get("type") if isinstance(message, dict) else None
    return kind if isinstance(kind, str) else None


def _read_turn(socket: Any, result: SSEResult, deadline: float, max_events: int) -> None:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            result.stopped = "deadline"
            return
        try:
            data = socket.recv(timeout=left)
        except TimeoutError:
            result.stopped = "deadline"
            return
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        result.events.append(SSEEvent(data=data))
        if turn_type(data) in ENDS_TURN:
            return
        if len(result.events) >= max_events:
            result.stopped = "max_events"
            return


def _lower(exchange: Exchange) -> set[str]:
    return {key.lower() for key in exchange.request_headers}
