"""The Responses API over WebSocket (`GET /v1/responses`, OpenAI's WebSocket mode): the same
bodies and the same TTFT, ITL, TPOT and E2E as `StreamingResponsesUser`, timed from the same
events by `ResponsesStreamMeter`, each turn reported as `responses.ws`.

A closed-loop user keeps one connection and sends its turns on it one after another (the mode's
point: no connection set-up per turn); in open loop, where arrivals overlap, each arrival gets a
connection of its own. A turn that cannot start is an `error` event with a `status`: 429 and 503
count as shed, like the HTTP users' answers. Every turn has the run's --request-timeout, every
message the client's size limit, and a connection that failed is dropped, not reused.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from locust import task
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from ._recorder import RECORDER
from ._responses_user import StreamingResponsesUser
from ._settings import SETTINGS
from ._shed import SHED_STATUSES, shed_backoff_s
from ._stream_meter import StreamResult
from ._user import LLMUser

NAME = "responses.ws"
MAX_MESSAGES = 1_000_000  # per turn; the deadline normally ends a runaway turn first
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # one event (the terminal one repeats the whole response)
CLOSE_TIMEOUT_S = 5.0


def websocket_url(server_root: str) -> str:
    """`ws://HOST:PORT/v1/responses` for `http://HOST:PORT` (wss for https)."""
    scheme, _, rest = server_root.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/v1/responses"


class WebSocketResponsesUser(LLMUser):
    """Responses over one WebSocket per user, with TTFT, ITL, TPOT and E2E."""

    # The HTTP user's body and meter, not its task: a subclass would inherit the task too.
    _body = StreamingResponsesUser._body
    stream_meter = StreamingResponsesUser.stream_meter

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._socket: ClientConnection | None = None

    def on_stop(self) -> None:
        super().on_stop()
        self._drop(self._socket)
        self._socket = None

    @task
    def responses_ws(self) -> None:
        if self._ready():
            body = self._body("responses", stream=False)
            body.pop("stream", None)  # every turn streams; the mode has no such field
            message = json.dumps({"type": "response.create", **body})
            self._send(NAME, lambda: self._turn(message))

    # -- connections -----------------------------------------------------------------------

    def _connect(self, timeout: float) -> ClientConnection:
        headers = {"Authorization": f"Bearer {SETTINGS.api_key}"} if SETTINGS.api_key else None
        return connect(
            websocket_url(self.client.base_url),
            additional_headers=headers,
            open_timeout=max(0.1, min(self.connection_timeout, timeout)),
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
        )

    @staticmethod
    def _drop(socket: ClientConnection | None) -> None:
        if socket is not None:
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                socket.close()

    # -- one turn --------------------------------------------------------------------------

    def _turn(self, message: str) -> None:
        backoff = None
        with self._tracked() as live:
            start = live.start
            meter = self.stream_meter(start)
            result = live.stream = meter.result
            persistent = self.dispatcher is None  # closed loop: one turn at a time per user
            socket = self._socket if persistent else None
            received = 0
            try:
                if socket is None:
                    socket = self._connect(start + SETTINGS.request_timeout - time.perf_counter())
                    if persistent:
                        self._socket = socket
                socket.send(message)
                received, shed = self._read(socket, meter.on_data, result)
                if shed is not None:
                    RECORDER.shed(NAME, shed)
                    self._fire_request(start, time.perf_counter(), received, None, "SHED")
                    backoff = shed_backoff_s(None, SETTINGS.max_retry_after)
                    return
            except (OSError, WebSocketException, TimeoutError) as exc:
                result.error = result.error or f"{type(exc).__name__}: {exc}"[:160]
            finally:
                result.end_at = time.perf_counter()
                if result.failure() is not None or not persistent:
                    # A turn that failed may have left events unread: never reuse that socket.
                    self._drop(socket)
                    if persistent:
                        self._socket = None
            self._report(start, received, result, live)
        self._back_off(backoff)

    def _read(
        self, socket: ClientConnection, on_data: Any, result: StreamResult
    ) -> tuple[int, int | None]:
        """Feeds the turn's events to the meter until its end; returns the bytes received and,
        when the server shed the turn, its status."""
        received = 0
        deadline = result.start + SETTINGS.request_timeout
        for _ in range(MAX_MESSAGES):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                result.error = f"turn exceeded --request-timeout {SETTINGS.request_timeout}s"
                break
            data = socket.recv(timeout=remaining)
            now = time.perf_counter()
            text = data if isinstance(data, str) else data.decode("utf-8")
            received += len(text)
            status = _error_status(text)
            if status in SHED_STATUSES:
                return received, status
            on_data(text, now)
            if result.error or result.done_at is not None:
                break
        return received, None

    def _report(self, start: float, received: int, result: StreamResult, live: Any) -> None:
        end = result.done_at if result.done_at is not None else result.end_at or start
        reason = result.failure()
        self._fire_request(start, end, received, reason, "WS")
        if reason:
            RECORDER.error(NAME, reason)
        else:
            self._record_stream(NAME, result, live)

    def _fire_request(
        self, start: float, end: float, received: int, reason: str | None, kind: str
    ) -> None:
        """The turn as one Locust request: E2E to the terminal event (or to the failure)."""
        self.environment.events.request.fire(
            request_type=kind,
            name=NAME,
            response_time=(end - start) * 1000.0,
            response_length=received,
            exception=Exception(reason) if reason else None,
            context={},
        )


def _error_status(text: str) -> int | None:
    """The `status` of a WebSocket-mode error event (a turn that could not start), else None."""
    if '"error"' not in text:
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("type") == "error":
        status = event.get("status")
        return status if isinstance(status, int) else None
    return None
