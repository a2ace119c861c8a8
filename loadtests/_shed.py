"""Shed load: 429/503 answers are the server protecting itself, not failed requests."""

from __future__ import annotations

from inferno.retry_after import retry_after_seconds

SHED_STATUSES = (429, 503)
DEFAULT_SHED_BACKOFF_S = 1.0  # when the server gives no usable Retry-After, still back off


def shed_backoff_s(retry_after: str | None, cap: float) -> float:
    """How long a shed client waits: what Retry-After asks (or a default), within [0, cap]."""
    delay = retry_after_seconds(retry_after)
    return min(DEFAULT_SHED_BACKOFF_S if delay is None else delay, cap)
