"""Load states and Retry-After: what the admission queue tells clients about the server's load."""

from __future__ import annotations

import math
from collections.abc import Iterable

from .engine import ModelWorker

HEALTHY, MODERATE, CRITICAL = "healthy", "moderate", "critical"
STATE_HEADER = "X-Inferno-Load"


def utilisation(worker: ModelWorker) -> float:
    """(running + queued) / capacity, where capacity = generation slots + queue places."""
    return (worker.running + worker.queued) / worker.capacity


def load_state(value: float) -> str:
    if value >= 0.9:
        return CRITICAL
    if value >= 0.7:
        return MODERATE
    return HEALTHY


def server_state(workers: Iterable[ModelWorker]) -> tuple[str, float]:
    """The most loaded model decides: a client cannot tell which model it will hit next."""
    peak = max((utilisation(w) for w in workers), default=0.0)
    return load_state(peak), peak


def retry_after_seconds(worker: ModelWorker) -> int:
    """Seconds until the queue has likely drained a place, from the measured completion rate."""
    rate = worker.drain_rate()
    if rate <= 0:
        return 1
    return max(1, min(60, math.ceil((worker.queued + 1) / rate)))
