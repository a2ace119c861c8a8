"""Incremental SSE parsing: any split of the byte stream yields the same events."""

from __future__ import annotations

import gzip
import zlib

import pytest
from _llm_sse import SSEEvent, SSEParser, body_decoder

STREAM = (
    ": keep-alive comment\n\n"
    'data: {"t": "héllo → 😀"}\n\n'
    "event: custom\r\ndata: line one\r\ndata: line two\r\n\r\n"
    "data:no-space\r\r"
    "data: [DONE]\n\n"
).encode()
EXPECTED = [
    SSEEvent('{"t": "héllo → 😀"}'),
    SSEEvent("line one\nline two", "custom"),
    SSEEvent("no-space"),
    SSEEvent("[DONE]"),
]


def parse(pieces: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)]
    parser.close()
    return events


def test_whole_stream() -> None:
    assert parse([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_two_way_split(cut: int) -> None:
    # Covers cuts inside multi-byte characters and between CR and LF.
    assert parse([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_byte_by_byte() -> None:
    assert parse([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_event_is_returned_when_its_last_byte_arrives() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [SSEEvent("a")]


def test_body_ending_inside_a_character_is_an_error() -> None:
    parser = SSEParser()
    parser.feed("data: é".encode()[:-1])
    with pytest.raises(UnicodeDecodeError):
        parser.close()


def test_decoders_are_incremental() -> None:
    for encoding, packed in (
        ("gzip", gzip.compress(STREAM)),
        ("deflate", zlib.compress(STREAM)),
        ("identity", STREAM),
    ):
        decode = body_decoder(encoding)
        out = b"".join(decode(packed[i : i + 7]) for i in range(0, len(packed), 7))
        assert out == STREAM, encoding
