"""A bounded Server-Sent Events reader: parses the WHATWG event-stream format incrementally.

Bounded in events and wall-clock time so an endless or stalled stream becomes a finding, not a hang.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    terminated: bool = True  # False when the stream ended before the blank line


@dataclass
class SSEResult:
    events: list[SSEEvent] = field(default_factory=list)
    comments: int = 0
    raw_excerpt: str = ""
    stopped: str | None = None  # why reading stopped early: "max_events", "deadline", "error: ..."
    elapsed: float = 0.0


class SSEParser:
    """Incremental parser; feed it text and collect events. Handles \\r\\n, \\r and \\n."""

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._has_field = False
        self.comments = 0

    def feed(self, text: str) -> list[SSEEvent]:
        self._buffer += text
        out: list[SSEEvent] = []
        while True:
            idx = _line_end(self._buffer)
            if idx is None:
                return out
            line, rest = self._buffer[: idx[0]], self._buffer[idx[1] :]
            self._buffer = rest
            event = self._line(line)
            if event is not None:
                out.append(event)

    def close(self) -> list[SSEEvent]:
        """Flush at end of stream; an unterminated event is kept but marked so checks can say so."""
        out: list[SSEEvent] = []
        if self._buffer:
            event = self._line(self._buffer)
            self._buffer = ""
            if event is not None:
                out.append(event)
        if self._has_field and self._data:
            out.append(self._dispatch(terminated=False))
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self._has_field:
                return None
            if not self._data:
                self._reset()
                return None
            return self._dispatch(terminated=True)
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self._has_field = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self, terminated: bool) -> SSEEvent:
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event,
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


def _line_end(buffer: str) -> tuple[int, int] | None:
    for i, ch in enumerate(buffer):
        if ch == "\n":
            return i, i + 1
        if ch == "\r":
            if i + 1 == len(buffer):
                return None  # could be the first half of \r\n; wait for more input
            return (i, i + 2) if buffer[i + 1] == "\n" else (i, i + 1)
    return None


def read_events(
    chunks: Iterable[bytes],
    *,
    deadline_s: float,
    max_events: int,
    stop_after_done: bool = False,
    excerpt_limit: int = 4000,
) -> SSEResult:
    """Read an event stream until EOF, ``max_events`` or ``deadline_s``, whichever comes first."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parser = SSEParser()
    result = SSEResult()
    start = time.monotonic()
    excerpt: list[str] = []
    excerpt_len = 0
    iterator: Iterator[bytes] = iter(chunks)
    try:
        for chunk in iterator:
            text = decoder.decode(chunk)
            if excerpt_len < excerpt_limit:
                excerpt.append(text[: excerpt_limit - excerpt_len])
                excerpt_len += len(excerpt[-1])
            result.events.extend(parser.feed(text))
            if len(result.events) > max_events:
                result.stopped = "max_events"
                break
            if time.monotonic() - start > deadline_s:
                result.stopped = "deadline"
                break
            if stop_after_done and result.events and result.events[-1].data == "[DONE]":
                break
        else:
            result.events.extend(parser.feed(decoder.decode(b"", final=True)))
            result.events.extend(parser.close())
    except Exception as exc:  # transport errors mid-stream are findings, not crashes
        result.stopped = f"error: {type(exc).__name__}: {exc}"
    result.comments = parser.comments
    result.raw_excerpt = "".join(excerpt)
    result.elapsed = time.monotonic() - start
    return result
