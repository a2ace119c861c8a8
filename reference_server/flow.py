"""Load states and Retry-After: what the admission queue tells clients about the server's load."""

from __future__ import annotations

import math
from collections.abc import Iterable

from .engine import Engine

HEALTHY, MODERATE, CRITICAL = "healthy", "moderate", "critical"
STATE_HEADER = "X-Inferno-Load"


def utilisation(engine: Engine) -> float:
    """(running + queued) / capacity: sequences in use and requests waiting, over sequences
    plus queue places."""
    return (engine.running + engine.queued) / engine.capacity


def load_state(value: float) -> str:
    if value >= 0.9:
        return CRITICAL
    if value >= 0.7:
        return MODERATE
    return HEALTHY


def server_state(engines: Iterable[Engine]) -> tuple[str, float]:
    """The most loaded model decides: a client cannot tell which model it will hit next."""
    peak = max((utilisation(w) for w in engines), default=0.0)
    return load_state(peak), peak


def retry_after_seconds(engine: Engine) -> int:
    """Seconds until the queue has likely drained a place, from the measured completion rate."""
    rate = engine.drain_rate()
    if rate <= 0:
        return 1
    return max(1, min(60, math.ceil((engine.queued + 1) / rate)))
