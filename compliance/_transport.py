"""What keeps the suite alive against any server: a total deadline and size limits per exchange.

httpx's timeouts bound each socket operation, so a server that sends one byte a second never
trips them. `BoundedTransport` gives every exchange a total deadline that covers connecting,
the headers and the whole body (each socket operation is bounded by what is left of it), and
reads bodies within limits on the raw and on the decoded bytes: the decoded limit is what stops
a compression bomb, which is small on the wire. It decodes `Content-Encoding` itself, step by
step, so the httpx response it returns carries decoded bytes (the coding the server used is in
`response.extensions[CONTENT_ENCODING]`). Redirects are never followed by the suite's clients.

Both the suite's own client and the openai SDK in the SDK tests run on it. Every way an
exchange can break is raised as `ExchangeBroken` (an httpx transport error) whose `rule` names
it; the deadline is also an httpx timeout, so the SDK reports it as one.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from compliance._endpoints import UNRESPONSIVE
from compliance._endpoints import WATCH as ENDPOINTS
from compliance._shed import SHED, SHED_HANDLED, SHED_STATUSES
from inferno.content_encoding import DecodedSizeExceeded, body_decoder

__all__ = [
    "CONTENT_ENCODING",
    "DEADLINE",
    "BoundedTransport",
    "DeadlineExceeded",
    "ExchangeBroken",
    "Limits",
    "bounded_client",
    "broken",
]

MIB = 1024 * 1024
# Decoded bytes after which the next exchange first collects cyclic garbage (see below).
GARBAGE_COLLECT_BYTES = 32 * MIB
# Raw bytes decoded per step: bounds what one step can inflate to before the limit is checked.
_DECODE_SLICE = 16 * 1024
DEADLINE = "inferno_deadline_s"  # request extension: this exchange's total deadline, seconds
CONTENT_ENCODING = "inferno_content_encoding"  # response extension: the coding on the wire


@dataclass(frozen=True)
class Limits:
    """How much of a body the suite reads: bytes on the wire and bytes after decoding."""

    # Far above any answer the suite asks for (its largest are a few hundred KiB), far below
    # what would strain a CI runner.
    raw_bytes: int = 32 * MIB
    decoded_bytes: int = 32 * MIB


class ExchangeBroken(httpx.TransportError):
    """An exchange the suite stopped or could not complete; `rule` names why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule


class DeadlineExceeded(ExchangeBroken, httpx.TimeoutException):
    """The exchange's total deadline passed."""


@dataclass
class _Watch:
    """One exchange as the sockets see it: its deadline and the first bytes that came back."""

    until: float
    total: float
    first_bytes: bytes = b""
    suspect: bool = False  # waiting on a server known to hang (`_endpoints.SUSPECT_WAIT_S`)

    def deadline_said(self) -> str:
        if self.suspect:
            return (
                f"{self.total:g} s, the wait for a first answer from an endpoint family of a "
                "server that already let another family hang"
            )
        return f"the exchange's total deadline of {self.total:g} s (--request-timeout)"


_WATCH: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "inferno_exchange_watch", default=None
)


@contextlib.contextmanager
def _watching(watch: _Watch) -> Iterator[None]:
    token = _WATCH.set(watch)
    try:
        yield
    finally:
        _WATCH.reset(token)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    watch = _WATCH.get()
    if watch is None:
        return timeout
    left = watch.until - time.monotonic()
    if left <= 0:
        raise expired("the exchange's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))
        watch = _WATCH.get()
        if watch is not None and not watch.first_bytes:
            watch.first_bytes = data[:8]  # what a "not HTTP" error cannot show
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wrapped = self._stream.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(wrapped)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class BoundedTransport(httpx.BaseTransport):
    """httpx's transport with a total deadline per exchange and bounded, decoded bodies.

    A failed test keeps its exchange alive in traceback frames that reference each other; the
    cyclic garbage collector counts objects, not bytes, so tens of MiB of bodies could wait there
    for a long time. After every 32 MiB decoded, the next exchange collects first.
    """

    def __init__(self, total_s: float, limits: Limits = Limits()) -> None:
        self.total_s = total_s
        self.limits = limits
        self._decoded_since_collect = 0
        self._inner = httpx.HTTPTransport()
        # httpx has no public hook for the network backend; if its internals change, this
        # fails at once rather than letting the suite run without deadlines.
        pool = getattr(self._inner, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            raise RuntimeError("cannot put exchange deadlines under this httpx version")
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._decoded_since_collect > GARBAGE_COLLECT_BYTES:
            self._decoded_since_collect = 0
            gc.collect()
        url = str(request.url)
        refusal = ENDPOINTS.refusal(url)
        if refusal is not None:
            raise ExchangeBroken(UNRESPONSIVE.id, refusal)
        total = float(request.extensions.get(DEADLINE) or self.total_s)
        started = time.monotonic()
        headers_wait = ENDPOINTS.headers_wait(url, total)
        watch = _Watch(started + headers_wait, headers_wait)
        watch.suspect = headers_wait < total
        try:
            with _watching(watch):
                response = self._inner.handle_request(request)
        except httpx.HTTPError as exc:
            failure = broken(exc, watch)
            if isinstance(failure, DeadlineExceeded):
                ENDPOINTS.expired(url)
            raise failure from None
        # The body keeps the full deadline.
        watch.until, watch.total, watch.suspect = started + total, total, False
        ENDPOINTS.answered(url)
        if response.status_code in SHED_STATUSES and not request.extensions.get(SHED_HANDLED):
            SHED.seen(url, response.status_code, response.headers.get("retry-after"))
        coding = response.headers.get("content-encoding")
        headers = response.headers.copy()
        if coding and coding.strip().lower() != "identity":
            # The body below is decoded: nothing downstream may decode it again.
            del headers["content-encoding"]
            headers.pop("content-length", None)
        stream = _BoundedBody(response.stream, watch, coding, self.limits, self._count)
        extensions = {**response.extensions, CONTENT_ENCODING: coding}
        return httpx.Response(
            response.status_code, headers=headers, stream=stream, extensions=extensions
        )

    def _count(self, decoded: int) -> None:
        self._decoded_since_collect += decoded

    def close(self) -> None:
        self._inner.close()


class _BoundedBody(httpx.SyncByteStream):
    """The decoded body, read from the wire within the deadline and both limits."""

    def __init__(
        self,
        raw: Any,
        watch: _Watch,
        coding: str | None,
        limits: Limits,
        count: Callable[[int], None],
    ) -> None:
        self._raw = raw
        self._watch = watch
        self._coding = coding
        self._limits = limits
        self._count = count

    def __iter__(self) -> Iterator[bytes]:
        try:
            decode = body_decoder(self._coding, max_output=self._limits.decoded_bytes)
        except (ValueError, ImportError) as exc:
            raise ExchangeBroken("transport.content-encoding", str(exc)) from None
        chunks = iter(self._raw)
        raw = 0
        while True:
            try:
                with _watching(self._watch):
                    chunk = next(chunks, None)
            except httpx.HTTPError as exc:
                raise broken(exc, self._watch) from None
            if chunk is None:
                return
            raw += len(chunk)
            if raw > self._limits.raw_bytes:
                raise ExchangeBroken(
                    "transport.size-limit",
                    f"the body passed {self._limits.raw_bytes} bytes on the wire; "
                    "the suite reads no more",
                )
            for start in range(0, len(chunk), _DECODE_SLICE):
                data = self._decode(decode, chunk[start : start + _DECODE_SLICE], raw)
                self._count(len(data))
                if data:
                    yield data
            if time.monotonic() > self._watch.until:
                raise _deadline_passed(self._watch, "while the body was still arriving")

    def _decode(self, decode: Any, chunk: bytes, raw: int) -> bytes:
        try:
            return decode(chunk)
        except DecodedSizeExceeded:
            self._count(self._limits.decoded_bytes)  # inflated, then dropped with the error
            raise ExchangeBroken(
                "transport.decoded-size-limit",
                f"the body decodes ({self._coding}) to more than {self._limits.decoded_bytes} "
                f"bytes after {raw} bytes on the wire (a compression bomb?); "
                "the suite decodes no more",
            ) from None
        except Exception as exc:  # zlib.error, brotli.error, ZstdError: a corrupt body
            raise ExchangeBroken(
                "transport.content-encoding", f"the body does not decode ({self._coding}): {exc}"
            ) from None

    def close(self) -> None:
        self._raw.close()


def bounded_client(timeout: float, limits: Limits = Limits()) -> httpx.Client:
    """An httpx client on `BoundedTransport`: what the suite's clients, the SDK's included, use.

    Proxies from the environment are not used: the suite talks to the server it was given.
    """
    return httpx.Client(
        transport=BoundedTransport(timeout, limits),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )


def _deadline_passed(watch: _Watch, detail: str) -> DeadlineExceeded:
    return DeadlineExceeded(
        "transport.deadline",
        f"no complete answer within {watch.deadline_said()}; stopped waiting {detail}",
    )


_TLS_RECORDS = (b"\x15\x03", b"\x16\x03")  # a TLS alert or handshake record


def broken(exc: BaseException, watch: _Watch) -> ExchangeBroken:
    """The rule and a plain message for an exchange that broke with `exc`."""
    if isinstance(exc, ExchangeBroken):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= watch.until - 0.001:
        return _deadline_passed(watch, f"({text})")
    if watch.first_bytes.startswith(_TLS_RECORDS):
        return ExchangeBroken(
            "transport.tls-on-plaintext",
            f"the server answered an http:// request with TLS bytes "
            f"({watch.first_bytes[:5]!r}...); is the URL https://? ({text})",
        )
    if isinstance(exc, httpx.TimeoutException):
        return ExchangeBroken("transport.timeout", text)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
        return ExchangeBroken("transport.protocol", f"not valid HTTP/1.1: {text}")
    return ExchangeBroken("transport.connection", text)
