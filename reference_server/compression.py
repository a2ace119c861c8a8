"""Content-Encoding negotiation and compressors that can flush after every SSE event."""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard

# Preference among codings the client rates equally: best ratio per CPU first.
SUPPORTED = ("zstd", "br", "gzip", "deflate")
COMPRESSIBLE_TYPES = ("application/json", "text/", "application/problem+json")


def negotiate(accept_encoding: str | None) -> str:
    """The coding to use for a response: one of SUPPORTED, or "identity".

    Unknown codings, empty values and malformed entries are ignored rather than refused: a
    client with an odd header still gets an uncompressed answer.
    """
    if not accept_encoding:
        return "identity"
    ratings: dict[str, float] = {}
    for entry in accept_encoding.split(","):
        name, _, params = entry.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = _quality(params)
        if q is None:
            continue
        ratings[name] = q
    wildcard = ratings.get("*")
    best, best_q = "identity", 0.0
    for coding in SUPPORTED:
        q = ratings.get(coding, wildcard if wildcard is not None else 0.0)
        if q > best_q:
            best, best_q = coding, q
    return best


def _quality(params: str) -> float | None:
    params = params.strip()
    if not params:
        return 1.0
    key, _, value = params.partition("=")
    if key.strip().lower() != "q":
        return None
    try:
        q = float(value.strip())
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


class StreamCompressor(Protocol):
    def compress(self, data: bytes) -> bytes:
        """Compresses `data` and flushes, so the client can decode it on arrival."""

    def finish(self) -> bytes:
        """The end of the compressed stream."""


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self._obj = zlib.compressobj(6, zlib.DEFLATED, wbits)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Compressor(quality=5)

    def compress(self, data: bytes) -> bytes:
        return self._obj.process(data) + self._obj.flush()

    def finish(self) -> bytes:
        return self._obj.finish()


class _Zstd:
    def __init__(self) -> None:
        self._obj = zstandard.ZstdCompressor(level=3).compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def stream_compressor(coding: str) -> StreamCompressor | None:
    if coding == "gzip":
        return _Zlib(31)
    if coding == "deflate":
        return _Zlib(15)  # HTTP "deflate" is the zlib format
    if coding == "br":
        return _Brotli()
    if coding == "zstd":
        return _Zstd()
    return None


def compress_body(data: bytes, coding: str) -> bytes:
    compressor = stream_compressor(coding)
    if compressor is None:
        return data
    return compressor.compress(data) + compressor.finish()


def is_compressible(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return any(media.startswith(t) for t in COMPRESSIBLE_TYPES)
