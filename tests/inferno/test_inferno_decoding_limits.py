"""Bounded decoding: `body_decoder(max_output=...)` stops compression bombs while they inflate,
and the SSE parser takes a long line in many pieces without copying it again and again."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard

from inferno.content_encoding import DecodedSizeExceeded, body_decoder
from inferno.sse import SSEError, SSEParser

PAYLOAD = bytes(range(256)) * 4000 + b"\0" * 500_000  # some entropy, then a long run
PACKERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "identity": lambda data: data,
}
MIB = 1024 * 1024


def _feed(decode: Callable[[bytes], bytes], packed: bytes, piece: int) -> bytes:
    return b"".join(decode(packed[i : i + piece]) for i in range(0, len(packed), piece))


@pytest.mark.parametrize("encoding", sorted(PACKERS))
def test_a_body_at_the_limit_decodes_whole(encoding: str) -> None:
    packed = PACKERS[encoding](PAYLOAD)
    decode = body_decoder(encoding, max_output=len(PAYLOAD))
    assert _feed(decode, packed, 4096) == PAYLOAD


@pytest.mark.parametrize("encoding", sorted(PACKERS))
def test_one_byte_over_the_limit_is_refused(encoding: str) -> None:
    packed = PACKERS[encoding](PAYLOAD)
    decode = body_decoder(encoding, max_output=len(PAYLOAD) - 1)
    with pytest.raises(DecodedSizeExceeded):
        _feed(decode, packed, 4096)


def _endless_gzip(mib: int) -> bytes:
    """A gzip stream of `mib` MiB of zeros: after a full flush each MiB packs to the same block."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mib - 1)


BOMBS: dict[str, Callable[[], bytes]] = {
    "gzip": lambda: _endless_gzip(1024),  # 1 GiB in about 1 MB
    "zstd": lambda: zstandard.ZstdCompressor().compress(bytes(256 * MIB)),
    "br": lambda: brotli.compress(bytes(256 * MIB), quality=1),
}


@pytest.mark.parametrize("encoding", sorted(BOMBS))
def test_a_compression_bomb_stops_at_the_limit_in_bounded_memory(encoding: str) -> None:
    bomb = BOMBS[encoding]()
    decode = body_decoder(encoding, max_output=8 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(DecodedSizeExceeded):
            _feed(decode, bomb, 64 * 1024)  # what one socket read brings
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48 * MIB, f"{peak / MIB:.0f} MiB to refuse an 8 MiB limit"


def test_a_long_line_in_many_pieces_is_one_event() -> None:
    parser = SSEParser()
    pieces = [b"data: "] + [b"x" * 4096] * 512 + [b"\n\n"]
    events = [event for piece in pieces for event in parser.feed(piece)]
    assert [len(event.data) for event in events] == [4096 * 512]


def test_pieces_of_an_unfinished_line_count_toward_the_limit() -> None:
    parser = SSEParser(max_event_chars=1000)
    parser.feed(b"data: ")
    with pytest.raises(SSEError, match="exceeds 1000"):
        for _ in range(11):  # 1,100 characters without a newline
            parser.feed(b"x" * 100)
