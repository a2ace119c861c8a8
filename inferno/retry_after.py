"""The one `Retry-After` parser (RFC 9110 §10.2.3): delay-seconds or an HTTP-date."""

from __future__ import annotations

import email.utils
import time

__all__ = ["retry_after_seconds"]


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds the header asks a client to wait (never negative); None when absent or malformed.

    Decimal seconds ("1.5") are not RFC syntax but are accepted: what a client should do with them
    is clear, and a checker that needs the strict form tests `value.isdigit()` itself.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, infinities
        return None
    return max(0.0, seconds)
