"""The one SSE parser: WHATWG rules, any split of the bytes, strict where it matters."""

from __future__ import annotations

import gzip
import zlib

import pytest

from inferno.content_encoding import body_decoder
from inferno.sse import SSEComment, SSEError, SSEEvent, SSEParser, parse

STREAM = (
    ": keep-alive comment\n\n"
    'data: {"t": "héllo → 😀"}\n\n'
    "event: custom\r\ndata: line one\r\ndata: line two\r\n\r\n"
    "data:no-space\r\r"
    "id: 7\nretry: 10\ndata: [DONE]\n\n"
).encode()
EXPECTED = [
    SSEEvent('{"t": "héllo → 😀"}'),
    SSEEvent("line one\nline two", "custom"),
    SSEEvent("no-space"),
    SSEEvent("[DONE]", id="7", retry=10),
]


def _feed(pieces: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)]
    return events + parser.close()


def test_whole_stream() -> None:
    assert _feed([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_two_way_split(cut: int) -> None:
    # Covers cuts inside multi-byte characters and between CR and LF.
    assert _feed([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_byte_by_byte() -> None:
    assert _feed([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_an_event_is_returned_when_its_last_byte_arrives() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [SSEEvent("a")]


def test_a_bare_data_line_is_an_event_with_empty_data() -> None:
    assert parse(b"data\n\ndata:\n\n") == [SSEEvent(""), SSEEvent("")]


def test_fields_without_data_dispatch_nothing() -> None:
    assert parse(b"event: ping\n\nretry: 5\n\ndata: x\n\n") == [SSEEvent("x")]


def test_comments_keep_their_place_among_events() -> None:
    parser = SSEParser()
    items = parser.feed_items(b": keep-alive\n\ndata: 1\n\n: request timeout after 2 s\n")
    assert items == [
        SSEComment("keep-alive"),
        SSEEvent("1"),
        SSEComment("request timeout after 2 s"),
    ]
    assert parser.comments == 2


def test_a_leading_byte_order_mark_is_dropped() -> None:
    assert parse("\ufeffdata: a\n\n".encode()) == [SSEEvent("a")]


def test_an_unterminated_last_event_is_reported() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: one\r") == []
    assert parser.feed(b"\n\r\ndata: two") == [SSEEvent("one")]
    assert parser.unfinished
    tail = parser.close()
    assert tail == [SSEEvent("two", terminated=False)]


def test_invalid_utf8_is_an_error() -> None:
    with pytest.raises(SSEError, match="invalid UTF-8"):
        SSEParser().feed(b"data: \xff\xfe\n\n")


def test_a_body_ending_inside_a_character_is_an_error() -> None:
    parser = SSEParser()
    parser.feed("data: é".encode()[:-1])
    with pytest.raises(SSEError, match="inside a UTF-8 character"):
        parser.close()


def test_an_event_that_never_ends_is_bounded() -> None:
    parser = SSEParser(max_event_chars=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(SSEError, match="exceeds 1000"):
        parser.feed(b"x" * 200)


def test_many_data_lines_are_bounded_too() -> None:
    parser = SSEParser(max_event_chars=1000)
    with pytest.raises(SSEError):
        for _ in range(200):
            parser.feed(b"data: xxxxxxxxxx\n")


def test_bytes_seen_counts_what_was_fed() -> None:
    parser = SSEParser()
    parser.feed(STREAM)
    assert parser.bytes_seen == len(STREAM)


def test_parse_takes_text_bytes_or_chunks() -> None:
    text = STREAM.decode()
    assert parse(text) == parse(STREAM) == parse([STREAM[:5], STREAM[5:]]) == EXPECTED


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(STREAM)),
        ("deflate", zlib.compress(STREAM)),
        ("identity", STREAM),
    ],
)
def test_content_decoders_are_incremental(encoding: str, packed: bytes) -> None:
    decode = body_decoder(encoding)
    out = b"".join(decode(packed[i : i + 7]) for i in range(0, len(packed), 7))
    assert out == STREAM


def test_an_unknown_content_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported Content-Encoding"):
        body_decoder("lzma")
