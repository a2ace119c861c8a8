"""Derive a stop sequence from the server's own temperature-0 output (model-agnostic)."""

from __future__ import annotations


def pick_stop(text: str, min_prefix: int = 3) -> str | None:
    """A short printable substring whose first occurrence is at index >= min_prefix.

    Asking again with it as `stop` must cut the answer before that point, whatever the model says.
    """
    for length in (4, 3, 2):
        for start in range(min_prefix, len(text) - length + 1):
            candidate = text[start : start + length]
            # U+FFFD marks bytes the server could not decode; servers match stops on raw text.
            if not candidate.strip() or not candidate.isprintable() or "\ufffd" in candidate:
                continue
            if text.find(candidate) == start:
                return candidate
    return None
