"""Incremental decoders for a response's `Content-Encoding`, for readers of the raw wire bytes."""

from __future__ import annotations

import zlib
from collections.abc import Callable

__all__ = ["body_decoder"]


def body_decoder(content_encoding: str | None) -> Callable[[bytes], bytes]:
    """An incremental decompressor for the Content-Encoding (identity passes bytes through).

    Raises ValueError for an encoding it does not know, so the caller can report it.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return lambda data: data
    if encoding in ("gzip", "x-gzip", "deflate"):
        # wbits 47 accepts both gzip and zlib framing; servers disagree on what "deflate" means.
        return zlib.decompressobj(47).decompress
    if encoding == "br":
        import brotli

        return brotli.Decompressor().process
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress
    raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")
