"""Incremental decoders for a response's `Content-Encoding`, for readers of the raw wire bytes.

With `max_output`, a decoder keeps its output bounded whatever arrives: a few KiB of a
compression bomb expand to gigabytes, so the limit is checked while decoding, step by step,
not after a chunk has been inflated whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

__all__ = ["DecodedSizeExceeded", "body_decoder"]

_STEP = 1 << 20  # the most output one decoding step may produce (gzip, deflate, br)
_ZSTD_SLICE = 256  # input bytes per zstd step: an RLE block turns 4 bytes into 128 KiB


class DecodedSizeExceeded(ValueError):
    """The decoded body outgrew `max_output` bytes (a compression bomb, or simply too big)."""


def body_decoder(
    content_encoding: str | None, *, max_output: int | None = None
) -> Callable[[bytes], bytes]:
    """An incremental decompressor for the Content-Encoding (identity passes bytes through).

    Raises ValueError for an encoding it does not know, so the caller can report it; the
    decoder raises DecodedSizeExceeded once its total output would pass `max_output`.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        steps: Steps = lambda data: iter((data,))  # noqa: E731
    elif encoding in ("gzip", "x-gzip", "deflate"):
        # wbits 47 accepts both gzip and zlib framing; servers disagree on what "deflate" means.
        steps = _zlib_steps()
    elif encoding == "br":
        steps = _brotli_steps()
    elif encoding == "zstd":
        steps = _zstd_steps()
    else:
        raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")
    if max_output is None:
        return lambda data: b"".join(steps(data))
    return _bounded(steps, max_output)


Steps = Callable[[bytes], Iterator[bytes]]


def _bounded(steps: Steps, limit: int) -> Callable[[bytes], bytes]:
    total = 0

    def decode(data: bytes) -> bytes:
        nonlocal total
        out = []
        for piece in steps(data):  # lazily: the check runs after each bounded step
            total += len(piece)
            if total > limit:
                raise DecodedSizeExceeded(f"the decoded body exceeds {limit} bytes")
            out.append(piece)
        return b"".join(out)

    return decode


def _zlib_steps() -> Steps:
    decompressor = zlib.decompressobj(47)

    def steps(data: bytes) -> Iterator[bytes]:
        while not decompressor.eof:
            out = decompressor.decompress(data, _STEP)
            yield out
            data = decompressor.unconsumed_tail
            if not data and len(out) < _STEP:  # a full step may leave output pending
                return

    return steps


def _brotli_steps() -> Steps:
    import brotli

    decompressor = brotli.Decompressor()

    def steps(data: bytes) -> Iterator[bytes]:
        out = decompressor.process(data, output_buffer_limit=_STEP)
        # A bounded call keeps the rest of the input inside; empty calls release it step by step.
        while out:
            yield out
            if decompressor.is_finished():
                return
            out = decompressor.process(b"", output_buffer_limit=_STEP)

    return steps


def _zstd_steps() -> Steps:
    import zstandard

    decompressor = zstandard.ZstdDecompressor().decompressobj()

    def steps(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), _ZSTD_SLICE):
            yield decompressor.decompress(data[start : start + _ZSTD_SLICE])

    return steps
