"""The suite's bounded reading of an event stream, on the shared parser (`inferno.sse`).

Bounded in events and wall-clock time so an endless or stalled stream becomes a finding, not a hang.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from inferno.sse import SSEError, SSEEvent, SSEParser

__all__ = ["SSEEvent", "SSEResult", "read_events"]


@dataclass
class SSEResult:
    events: list[SSEEvent] = field(default_factory=list)
    comments: int = 0
    raw_excerpt: str = ""
    stopped: str | None = None  # why reading stopped early: "max_events", "deadline", "error: ..."
    elapsed: float = 0.0


def read_events(
    chunks: Iterable[bytes],
    *,
    deadline_s: float,
    max_events: int,
    stop_after_done: bool = False,
    excerpt_limit: int = 4000,
) -> SSEResult:
    """Read an event stream until EOF, ``max_events`` or ``deadline_s``, whichever comes first.

    An event cut off by the end of the body is kept with ``terminated=False`` so checks can say so.
    """
    parser = SSEParser()
    result = SSEResult()
    start = time.monotonic()
    excerpt = bytearray()
    try:
        for chunk in chunks:
            if len(excerpt) < excerpt_limit:
                excerpt += chunk[: excerpt_limit - len(excerpt)]
            result.events.extend(parser.feed(chunk))
            if len(result.events) > max_events:
                result.stopped = "max_events"
                break
            if time.monotonic() - start > deadline_s:
                result.stopped = "deadline"
                break
            if stop_after_done and result.events and result.events[-1].data == "[DONE]":
                break
        else:
            result.events.extend(parser.close())
    except SSEError as exc:
        result.stopped = f"error: {exc}"
    except Exception as exc:  # transport errors mid-stream are findings, not crashes
        result.stopped = f"error: {type(exc).__name__}: {exc}"
    result.comments = parser.comments
    result.raw_excerpt = excerpt.decode("utf-8", errors="replace")
    result.elapsed = time.monotonic() - start
    return result
