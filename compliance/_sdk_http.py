"""The openai SDK on the suite's bounded transport, whatever HTTP library the SDK is built on.

openai 3.x builds on httpx2, earlier releases on httpx; the suite's `BoundedTransport` is an
httpx transport. An object of one library handed to a client of the other works only through
compatibility shims that come and go between releases (openai 3.63 refuses an `httpx.Timeout`),
so the suite never mixes them: the SDK gets a client of its own library whose transport hands
each exchange to `BoundedTransport` and translates the request, the response and the errors at
that one seam. Deadlines, size limits and decoding stay in one place.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx

from compliance._transport import (
    CONTENT_ENCODING,
    DEADLINE,
    BoundedTransport,
    Limits,
    bounded_client,
)

__all__ = ["sdk_http_client", "sdk_http_library"]

# Request extensions that mean the same to both libraries and that the transport reads.
_REQUEST_EXTENSIONS = ("timeout", DEADLINE)
_RESPONSE_EXTENSIONS = ("http_version", "reason_phrase", CONTENT_ENCODING)


def sdk_http_library() -> ModuleType:
    """The HTTP library (httpx, httpx2, ...) the installed openai SDK builds its clients on."""
    import openai

    for cls in openai.DefaultHttpxClient.__mro__:
        package = sys.modules.get(cls.__module__.partition(".")[0])
        if package is not None and getattr(package, "Client", None) is cls:
            return package
    raise RuntimeError(
        f"cannot tell which HTTP library openai {openai.__version__} is built on "
        f"(DefaultHttpxClient's bases: {openai.DefaultHttpxClient.__mro__})"
    )


def sdk_http_client(timeout: float, limits: Limits = Limits()) -> Any:
    """A client of the SDK's own HTTP library whose every exchange runs on `BoundedTransport`."""
    library = sdk_http_library()
    if library is httpx:
        return bounded_client(timeout, limits)
    return library.Client(
        transport=_bridge(library)(BoundedTransport(timeout, limits)),
        timeout=float(timeout),
        follow_redirects=False,
        trust_env=False,
    )


@functools.cache
def _bridge(library: ModuleType) -> type:
    """A transport class of `library` that forwards to an httpx transport."""

    class Bridge(library.BaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self, inner: BoundedTransport) -> None:
            self._inner = inner

        def handle_request(self, request: Any) -> Any:
            ours = httpx.Request(
                request.method,
                str(request.url),
                headers=list(request.headers.raw),
                content=request.read(),
                extensions={
                    k: v for k, v in request.extensions.items() if k in _REQUEST_EXTENSIONS
                },
            )
            try:
                response = self._inner.handle_request(ours)
            except httpx.HTTPError as exc:
                raise _translated(library, exc, request) from exc
            return library.Response(
                response.status_code,
                headers=list(response.headers.raw),
                stream=_body(library)(response, request),
                extensions={
                    k: v for k, v in response.extensions.items() if k in _RESPONSE_EXTENSIONS
                },
            )

        def close(self) -> None:
            self._inner.close()

    return Bridge


@functools.cache
def _body(library: ModuleType) -> type:
    """A byte stream of `library` over an httpx response's (bounded, decoded) body."""

    class Body(library.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, response: httpx.Response, request: Any) -> None:
            self._response = response
            self._request = request

        def __iter__(self) -> Iterator[bytes]:
            try:
                yield from self._response.stream  # type: ignore[misc]
            except httpx.HTTPError as exc:
                raise _translated(library, exc, self._request) from exc

        def close(self) -> None:
            self._response.close()

    return Body


def _translated(library: ModuleType, exc: httpx.HTTPError, request: Any) -> Exception:
    """The same failure as `library`'s exception, so the SDK reports it as it would its own
    (a timeout as APITimeoutError, the rest as APIConnectionError); the message keeps the rule."""
    if isinstance(exc, httpx.TimeoutException):
        return library.ReadTimeout(str(exc), request=request)
    if isinstance(exc, httpx.RemoteProtocolError):
        return library.RemoteProtocolError(str(exc), request=request)
    return library.TransportError(str(exc), request=request)
