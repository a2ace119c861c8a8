"""The one percentile used by the load profiles, the benchmarks and the reports."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float | None], pct: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default method).

    Missing and non-finite samples are ignored; None when no sample is left.
    """
    ordered = sorted(v for v in values if v is not None and math.isfinite(v))
    if not ordered:
        return None
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
