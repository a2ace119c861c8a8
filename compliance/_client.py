"""HTTP client for the suite: every request has a deadline and is recorded for failure messages."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from compliance._failure import fail
from compliance._sse import SSEEvent, SSEResult, read_events

EXCERPT = 1500


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def _redact(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: ("Bearer ***" if k.lower() == "authorization" and v.startswith("Bearer ") else v)
        for k, v in headers.items()
    }


@dataclass
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
    error: str | None = None
    elapsed: float = 0.0

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
            fail("http.transport", f"no response: {self.error}", self)
        try:
            return json.loads(self.body)
        except ValueError as exc:
            fail(rule, f"response body is not JSON ({exc})", self)

    def request_excerpt(self) -> str:
        if not self.request_body:
            return ""
        return _excerpt(self.request_body.decode("utf-8", errors="replace"), 800)

    def response_excerpt(self) -> str:
        if self.error:
            return f"(no response: {self.error})"
        if self.sse is not None:
            tail = f"\n[stream stopped: {self.sse.stopped}]" if self.sse.stopped else ""
            return _excerpt(self.sse.raw_excerpt) + tail
        return _excerpt(self.text)

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
    """Thin httpx wrapper. Transport errors become Exchange.error instead of exceptions."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        # No automatic decompression surprises: httpx decodes gzip/deflate/br/zstd it knows.
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)

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
    ) -> Exchange:
        hdrs = self.headers(headers, auth)
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        exchange = Exchange(method, self.url(path), hdrs, content)
        start = time.monotonic()
        try:
            response = self._http.request(
                method,
                exchange.url,
                content=content,
                headers=hdrs,
                timeout=timeout or self.timeout,
            )
            exchange.status = response.status_code
            exchange.headers = {k.lower(): v for k, v in response.headers.items()}
            exchange.body = response.content
        except (httpx.HTTPError, OSError) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
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
    ) -> Exchange:
        """POST and read the answer as SSE, bounded in events and time. Non-SSE bodies are kept."""
        hdrs = self.headers(headers)
        hdrs.setdefault("Content-Type", "application/json")
        content = json.dumps(body).encode()
        exchange = Exchange("POST", self.url(path), hdrs, content)
        deadline = deadline_s or self.timeout
        start = time.monotonic()
        try:
            with self._http.stream(
                "POST", exchange.url, content=content, headers=hdrs, timeout=self.timeout
            ) as response:
                exchange.status = response.status_code
                exchange.headers = {k.lower(): v for k, v in response.headers.items()}
                if "text/event-stream" in exchange.content_type or response.status_code == 200:
                    chunks = _paced(response.iter_bytes(), read_pause_s)
                    exchange.sse = read_events(chunks, deadline_s=deadline, max_events=max_events)
                else:
                    exchange.body = _bounded_read(response, start, deadline)
        except (httpx.HTTPError, OSError) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
        exchange.elapsed = time.monotonic() - start
        return exchange


def _paced(chunks: Any, pause: float) -> Any:
    for chunk in chunks:
        yield chunk
        if pause:
            time.sleep(pause)


def _bounded_read(response: httpx.Response, start: float, deadline: float) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data.extend(chunk)
        if time.monotonic() - start > deadline or len(data) > 4_000_000:
            break
    return bytes(data)
