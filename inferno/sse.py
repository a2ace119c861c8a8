"""The one Server-Sent Events parser: bytes in, events out, as the WHATWG event-stream rules say.

Bytes arrive in arbitrary pieces: an event, a line or a multi-byte UTF-8 character may be split
across reads. The parser keeps the unfinished tail and returns an event only once its blank line
has arrived, so the moment `feed` returns an event is the moment its last byte came (what TTFT and
ITL need). It is strict where a lenient reader would hide a server's bug: invalid UTF-8 raises,
an event cut off by the end of the body is reported (not silently dropped), and an event larger
than `max_event_chars` raises instead of growing memory without bound.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_EVENT_CHARS",
    "SSEComment",
    "SSEError",
    "SSEEvent",
    "SSEParser",
    "parse",
]

# Far above any real event (a chunk with top_logprobs is a few KiB), far below a memory problem.
DEFAULT_MAX_EVENT_CHARS = 16 * 1024 * 1024


class SSEError(ValueError):
    """The body is not a well-formed event stream (invalid UTF-8, an event over the size limit)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"  # the `event:` field, "message" when absent (as browsers dispatch it)
    id: str | None = None
    retry: int | None = None
    terminated: bool = True  # False: the body ended before this event's blank line


@dataclass(frozen=True, slots=True)
class SSEComment:
    """A line starting with ':' (keep-alives, notes such as a timeout)."""

    text: str


class SSEParser:
    """Incremental parser: `feed` bytes as they arrive, `close` at the end of the body."""

    def __init__(self, *, max_event_chars: int = DEFAULT_MAX_EVENT_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._max_event_chars = max_event_chars
        self._tail = ""  # an unfinished line
        self._pending_size = 0  # characters held for the event being built (tail included)
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._has_field = False
        self._started = False
        self.comments = 0
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by this chunk."""
        return [item for item in self.feed_items(chunk) if isinstance(item, SSEEvent)]

    def feed_items(self, chunk: bytes) -> list[SSEEvent | SSEComment]:
        """The events and comments completed by this chunk, in stream order."""
        self.bytes_seen += len(chunk)
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise SSEError(f"invalid UTF-8 in the event stream: {exc.reason}") from exc
        return self._lines(text)

    def close(self) -> list[SSEEvent]:
        """Flushes the end of the body.

        An event whose blank line never came is returned with `terminated=False`: the WHATWG rules
        discard it, so a consumer that follows them ignores it, and a checker reports it.
        """
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise SSEError("the event stream ended inside a UTF-8 character") from exc
        items = self._lines("\n") if self._tail else []
        events = [item for item in items if isinstance(item, SSEEvent)]
        if self._has_field and self._data:
            events.append(self._dispatch(terminated=False))
        self._reset()
        return events

    @property
    def unfinished(self) -> bool:
        """Whether bytes of an event (or line) are waiting for the rest of it."""
        return bool(self._tail) or self._has_field

    # -- internals -----------------------------------------------------------------------------

    def _lines(self, text: str) -> list[SSEEvent | SSEComment]:
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):  # one leading byte-order mark is not part of the stream
                text = text[1:]
        text = self._tail + text
        held_cr = ""
        if "\r" in text:
            if text.endswith("\r"):  # maybe the first half of a CRLF split across reads
                text, held_cr = text[:-1], "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._tail = lines.pop() + held_cr
        out: list[SSEEvent | SSEComment] = []
        for line in lines:
            item = self._line(line)
            if item is not None:
                out.append(item)
        self._pending_size = len(self._tail) + sum(len(d) for d in self._data)
        if self._pending_size > self._max_event_chars:
            raise SSEError(f"an event exceeds {self._max_event_chars} characters without ending")
        return out

    def _line(self, line: str) -> SSEEvent | SSEComment | None:
        if not line:
            if not self._has_field:
                return None
            if not self._data:  # fields but no data: nothing is dispatched
                self._reset()
                return None
            return self._dispatch(terminated=True)
        if line[0] == ":":
            self.comments += 1
            return SSEComment(line[1:].removeprefix(" "))
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._has_field = True
        if name == "data":
            self._data.append(value)  # a bare `data` line appends an empty line, as specified
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self, *, terminated: bool) -> SSEEvent:
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._id,
            retry=self._retry,
            terminated=terminated,
        )
        self._reset()
        return event

    def _reset(self) -> None:
        self._data = []
        self._event = None
        self._retry = None
        self._has_field = False


def parse(body: bytes | str | Iterable[bytes]) -> list[SSEEvent]:
    """Every event of a complete body (bytes, text or chunks), the unterminated one included."""
    parser = SSEParser()
    if isinstance(body, str):
        body = body.encode("utf-8")
    chunks = [body] if isinstance(body, bytes) else body
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events
