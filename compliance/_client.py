"""HTTP client for the suite: every exchange is bounded in time and size, and recorded for
failure messages."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from compliance._failure import fail
from compliance._shed import SHED, SHED_HANDLED, SHED_STATUSES, retry_after_s
from compliance._sse import SSEEvent, SSEResult, read_events
from compliance._transport import (
    CONTENT_ENCODING,
    DEADLINE,
    ExchangeBroken,
    Limits,
    bounded_client,
)

EXCERPT = 1500


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def _redact(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: ("Bearer ***" if k.lower() == "authorization" and v.startswith("Bearer ") else v)
        for k, v in headers.items()
    }


@dataclass(repr=False)
class Exchange:
    """One request and what came back: status, headers, body or SSE events, or a transport error."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    sse: SSEResult | None = None
    error: str | None = None  # "[rule] what broke": the exchange did not complete
    error_rule: str | None = None
    elapsed: float = 0.0

    def __repr__(self) -> str:
        # Short on purpose: tracebacks show it, and a body can be tens of MiB.
        size = len(self.sse.events) if self.sse else len(self.body)
        unit = "events" if self.sse else "bytes"
        return f"<Exchange {self.method} {self.url} -> {self.status} ({size} {unit})>"

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def events(self) -> list[SSEEvent]:
        return self.sse.events if self.sse else []

    def json(self, rule: str = "http.json") -> Any:
        """Parse the body as JSON or fail with the rule."""
        if self.error:
            # The transport names which limit or failure broke the exchange: the root cause.
            fail("http.transport", f"no complete response: {self.error}", self, self.error_rule)
        try:
            return json.loads(self.body)
        except ValueError as exc:
            problem = str(exc)
        # Failing outside the handler keeps json.loads's frame (and the body) out of the report.
        fail(rule, f"response body is not JSON ({problem})", self)

    def request_excerpt(self) -> str:
        if not self.request_body:
            return ""
        return _excerpt(self.request_body.decode("utf-8", errors="replace"), 800)

    def response_excerpt(self) -> str:
        if self.error:
            return f"(no complete response: {self.error})"
        if self.sse is not None:
            tail = f"\n[stream stopped: {self.sse.stopped}]" if self.sse.stopped else ""
            return _excerpt(self.sse.raw_excerpt) + tail
        # Only the start is decoded: a body can be tens of MiB.
        return _excerpt(self.body[: 4 * EXCERPT].decode("utf-8", errors="replace"))

    def curl(self) -> str:
        parts = ["curl", "-sS", "-X", self.method, self.url]
        for key, value in _redact(self.request_headers).items():
            if key.lower() in ("content-type", "authorization", "accept", "accept-encoding"):
                parts += ["-H", f"{key}: {value}"]
        if self.request_body:
            body = self.request_body.decode("utf-8", errors="replace")
            parts += ["--data-raw", body if len(body) < 4000 else body[:4000] + "..."]
        return " ".join(shlex.quote(p) for p in parts)

    def describe(self) -> str:
        status = f"{self.status}" if self.status is not None else "no response"
        lines = [f"  request: {self.method} {self.url}"]
        if self.request_body:
            lines.append("    " + self.request_excerpt().replace("\n", "\n    "))
        lines.append(f"  response: {status} content-type={self.content_type or '-'}")
        if self.status is not None and 300 <= self.status < 400:
            where = self.headers.get("location", "-")
            lines.append(f"    redirect to {where} (the suite does not follow redirects)")
        lines.append("    " + self.response_excerpt().replace("\n", "\n    "))
        lines.append(f"  reproduce: {self.curl()}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        return {
            "request": f"{self.method} {self.url}",
            "request_body": self.request_excerpt(),
            "status": self.status,
            "response": self.response_excerpt(),
            "curl": self.curl(),
        }


class ApiClient:
    """Thin httpx wrapper. Transport errors become Exchange.error instead of exceptions.

    Every exchange has a total deadline (`timeout`, or the stream's `deadline_s`) that covers
    connecting, the headers and the whole body, and bounded reading (`limits`): whatever a
    server does, a call returns by its deadline with bounded memory (`compliance._transport`).
    Redirects are reported, not followed.
    """

    def __init__(
        self, base_url: str, api_key: str | None, timeout: float, limits: Limits = Limits()
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.limits = limits
        self._http = bounded_client(timeout, limits)

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def headers(self, extra: dict[str, str] | None = None, auth: bool = True) -> dict[str, str]:
        headers: dict[str, str] = {}
        if auth and self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float | None = None,
        retry_shed: bool = True,
    ) -> Exchange:
        """One exchange; shed load (429/503 with Retry-After) is retried within the budgets of
        `compliance._shed` unless `retry_shed` is False (checks of shedding itself)."""
        hdrs = self.headers(headers, auth)
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        return _unshed(lambda: self._request_once(method, path, content, hdrs, timeout), retry_shed)

    def _request_once(
        self,
        method: str,
        path: str,
        content: bytes | None,
        hdrs: dict[str, str],
        timeout: float | None,
    ) -> Exchange:
        exchange = Exchange(method, self.url(path), hdrs, content)
        start = time.monotonic()
        extensions = {DEADLINE: timeout or self.timeout, SHED_HANDLED: True}
        try:
            with self._http.stream(
                method, exchange.url, content=content, headers=hdrs, extensions=extensions
            ) as response:
                _record_head(exchange, response)
                exchange.body = _read(response)
        except (httpx.HTTPError, OSError) as exc:
            _record_error(exchange, exc)
        exchange.elapsed = time.monotonic() - start
        return exchange

    def get(self, path: str, **kwargs: Any) -> Exchange:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Exchange:
        return self.request("POST", path, json_body=body, **kwargs)

    def stream(
        self,
        path: str,
        body: Any,
        *,
        max_events: int = 512,
        deadline_s: float | None = None,
        headers: dict[str, str] | None = None,
        read_pause_s: float = 0.0,
        retry_shed: bool = True,
    ) -> Exchange:
        """POST and read the answer as SSE, bounded in events, bytes and time.

        Non-SSE bodies are kept (bounded like any body). Shed load is retried as in `request`.
        """
        hdrs = self.headers(headers)
        hdrs.setdefault("Content-Type", "application/json")
        content = json.dumps(body).encode()
        return _unshed(
            lambda: self._stream_once(path, content, hdrs, max_events, deadline_s, read_pause_s),
            retry_shed,
        )

    def _stream_once(
        self,
        path: str,
        content: bytes,
        hdrs: dict[str, str],
        max_events: int,
        deadline_s: float | None,
        read_pause_s: float,
    ) -> Exchange:
        exchange = Exchange("POST", self.url(path), hdrs, content)
        total = deadline_s or self.timeout
        start = time.monotonic()
        extensions = {DEADLINE: total, SHED_HANDLED: True}
        try:
            with self._http.stream(
                "POST", exchange.url, content=content, headers=hdrs, extensions=extensions
            ) as response:
                _record_head(exchange, response)
                if "text/event-stream" in exchange.content_type or response.status_code == 200:
                    exchange.sse = read_events(
                        _paced(response.iter_bytes(), read_pause_s),
                        deadline_s=max(0.0, start + total - time.monotonic()),
                        max_events=max_events,
                    )
                else:
                    exchange.body = _read(response)
        except (httpx.HTTPError, OSError) as exc:
            _record_error(exchange, exc)
        exchange.elapsed = time.monotonic() - start
        return exchange

    def send_case(self, case: Any, base_url: str, headers: dict[str, str]) -> httpx.Response:
        """A schemathesis case sent through the bounded transport, read whole.

        The fuzz tests use it instead of `case.call()` (requests: per-read timeouts only, bodies
        and compression bombs read whole); `case.validate_response` takes the httpx response.
        """
        sent = case.as_transport_kwargs(base_url=base_url, headers=headers)
        content = sent.get("data")
        if "json" in sent:
            content = json.dumps(sent["json"]).encode()
        elif isinstance(content, str):
            content = content.encode()
        request = self._http.build_request(
            sent["method"],
            sent["url"],
            params=sent.get("params") or None,
            headers=sent.get("headers"),
            content=content,
            extensions={DEADLINE: self.timeout},
        )
        response = self._http.send(request)
        try:
            response.read()
        finally:
            response.close()
        return response


def _unshed(send: Callable[[], Exchange], retry: bool) -> Exchange:
    """Send, and while the answer is shed load, wait its Retry-After and send again (bounded by
    the ledger's retries and seconds). Still shed: recorded for the running check's verdict."""
    attempt = 0
    while True:
        exchange = send()
        if exchange.status not in SHED_STATUSES or not retry:
            return exchange
        delay = retry_after_s(exchange.headers.get("retry-after"))
        if delay is None:
            return exchange  # a 429/503 without Retry-After is an answer like any other
        if not SHED.wait(delay, attempt):
            SHED.seen(exchange.url, exchange.status, exchange.headers.get("retry-after"))
            return exchange
        attempt += 1


def _record_head(exchange: Exchange, response: httpx.Response) -> None:
    exchange.status = response.status_code
    exchange.headers = {k.lower(): v for k, v in response.headers.items()}
    coding = response.extensions.get(CONTENT_ENCODING)
    if coding:  # the transport decoded the body; the report shows what the server sent
        exchange.headers["content-encoding"] = coding


def _read(response: httpx.Response) -> bytes:
    """The (bounded, decoded) body, without httpx keeping a second copy in the response."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
    return bytes(body)


def _record_error(exchange: Exchange, exc: Exception) -> None:
    exchange.error = str(exc) if isinstance(exc, ExchangeBroken) else f"{type(exc).__name__}: {exc}"
    exchange.error_rule = exc.rule if isinstance(exc, ExchangeBroken) else "transport"


def _paced(chunks: Iterable[bytes], pause: float) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        if pause:
            time.sleep(pause)
