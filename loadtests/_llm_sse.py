"""Incremental Server-Sent Events parsing over raw body bytes.

Bytes arrive in arbitrary pieces: an event, a line or even a multi-byte UTF-8 character may be
split across two reads. The parser keeps the unfinished tail and only emits complete events, so
the time at which an event is returned is the time its last byte arrived (what TTFT and ITL need).
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"


class SSEParser:
    """Feed bytes, get complete events (WHATWG event-stream rules, minus ``id``/``retry``)."""

    def __init__(self) -> None:
        # An incremental decoder keeps a split UTF-8 sequence until its last byte arrives,
        # instead of replacing both halves with U+FFFD as a per-chunk decode would.
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._tail = ""
        self._data: list[str] = []
        self._event = ""
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self.bytes_seen += len(chunk)
        text = self._tail + self._decoder.decode(chunk)
        held_cr = ""
        if "\r" in text:
            # A CR at the very end may be the first half of a CRLF split across reads.
            if text.endswith("\r"):
                text, held_cr = text[:-1], "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._tail = lines.pop() + held_cr
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(SSEEvent("\n".join(self._data), self._event or "message"))
                self._data = []
                self._event = ""
            elif line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
            elif line[0] == ":":
                continue  # comment / keep-alive
            else:
                field, _, value = line.partition(":")
                if field == "event":
                    self._event = value[1:] if value.startswith(" ") else value
        return events

    def close(self) -> None:
        """End of body: raises UnicodeDecodeError if the body ended inside a UTF-8 sequence.

        An unterminated last event is dropped, as the event-stream spec requires.
        """
        self._decoder.decode(b"", final=True)


def body_decoder(content_encoding: str | None) -> Callable[[bytes], bytes]:
    """Return an incremental decompressor for the response's Content-Encoding."""
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
