"""Shed load: 429/503 answers are the server protecting itself, not failed requests."""

from __future__ import annotations

import email.utils
import time

SHED_STATUSES = (429, 503)
DEFAULT_SHED_BACKOFF_S = 1.0  # when the server gives no Retry-After, still back off


def retry_after_s(value: str | None, cap: float, default: float = DEFAULT_SHED_BACKOFF_S) -> float:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date), within [0, cap]."""
    delay = default
    if value:
        value = value.strip()
        try:
            delay = float(value)
        except ValueError:
            try:
                delay = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                delay = default
    return min(max(delay, 0.0), cap)
