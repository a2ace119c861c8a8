"""Medians and spread across runs, ratios to the best peer (percentiles: `inferno.stats`)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

# Metrics where a smaller number is better (latencies, times, failures); every other metric
# (req/s, tok/s, inputs/s) is "higher is better". Rates end in "_s" too, hence the explicit list.
LOWER_IS_BETTER_SUFFIXES = ("_ms", "_startup_s", "_errors", "_shed")


def lower_is_better(metric: str) -> bool:
    return metric.endswith(LOWER_IS_BETTER_SUFFIXES)


def across_runs(values: list[float | None]) -> dict[str, float | int | None]:
    """Median and min/max of one metric over the runs; the spread shows how noisy it was."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return {"median": None, "min": None, "max": None, "runs": 0}
    median = statistics.median(present)
    spread = (max(present) - min(present)) / median * 100.0 if median else None
    return {
        "median": median,
        "min": min(present),
        "max": max(present),
        "spread_pct": spread,
        "runs": len(present),
    }


def ratios(medians: Mapping[str, float | None], metric: str) -> dict[str, float | None]:
    """Each peer's median relative to the best peer's (1.0 = best; >1 slower or worse).

    Expressed so that bigger always means worse: for throughput best/value, for latency
    value/best. A ratio of 2.0 therefore reads "twice as slow as the fastest peer".
    """
    present = {k: v for k, v in medians.items() if v is not None and v > 0}
    if not present:
        return dict.fromkeys(medians)
    if lower_is_better(metric):
        best = min(present.values())
        return {k: (v / best if k in present else None) for k, v in medians.items()}
    best = max(present.values())
    return {k: (best / v if k in present else None) for k, v in medians.items()}


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds; None stays None (no sample)."""
    return None if seconds is None else seconds * 1000.0
