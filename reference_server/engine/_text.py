"""Turning a stream of token bytes into text that is safe to emit."""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextAssembler:
    """Decodes token bytes incrementally and holds back what might start a stop string.

    Text leaves only as whole UTF-8 characters, and a stop string is never emitted: a suffix
    that could still grow into one waits until the next token settles it.
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._stop = [s for s in stop if s]
        self._pending = ""
        self.stopped = False

    def feed(self, data: bytes) -> str:
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(data)
        if not self._stop:
            out, self._pending = self._pending, ""
            return out
        cut = _earliest_stop(self._pending, self._stop)
        if cut is not None:
            out = self._pending[:cut]
            self._pending = ""
            self.stopped = True
            return out
        hold = _longest_stop_prefix_suffix(self._pending, self._stop)
        emit_upto = len(self._pending) - hold
        out, self._pending = self._pending[:emit_upto], self._pending[emit_upto:]
        return out

    def flush(self) -> str:
        """Releases what was held back once generation has ended without a stop string."""
        if self.stopped:
            return ""
        out = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return out


def _earliest_stop(text: str, stops: Sequence[str]) -> int | None:
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(positions) if positions else None


def _longest_stop_prefix_suffix(text: str, stops: Sequence[str]) -> int:
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest
