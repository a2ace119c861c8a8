"""Per-second counts of a run, for the report's charts over time.

Each process counts on its own clock from its own test start (a worker's starts when the master's
spawn message arrives, milliseconds after the master's), so the buckets of all processes line up
without comparing clocks. Tokens of a stream are counted in the second they arrived, not when the
stream ended, so a long answer does not show up as a spike at its end.

The ``credit_*`` fields hold each finished request spread evenly over its span (sent to last
byte), the definition of what a window produced (``_window.py``): the sum of the buckets between
two instants is what a rate-sweep step produced, the same way as for the whole run.
"""

from __future__ import annotations

import time
from typing import Any

BUCKET_S = 1.0
MAX_BUCKETS = 86_400  # a day of seconds; later seconds pile into the last bucket
CREDIT = ("requests", "output_tokens", "good_requests", "good_output_tokens")
FIELDS = (
    "requests",
    "output_tokens",
    "ttft_sum_ms",
    "ttft_count",
    "errors",
    *(f"credit_{name}" for name in CREDIT),
    "arrivals",  # open loop: arrivals that came due
)


class Timeline:
    """One process's buckets since its last report."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.buckets: dict[int, list[float]] = {}

    def restart(self) -> None:
        self.started = time.perf_counter()
        self.buckets = {}

    def start_at_first_arrival(self) -> None:
        """Open loop: second 0 is the arrival schedule's time 0 (the first user ready), so a
        rate step's seconds hold its own arrivals and the requests they sent."""
        if not self.buckets:
            self.started = time.perf_counter()

    def _bucket(self, at: float) -> list[float]:
        index = min(MAX_BUCKETS - 1, max(0, int((at - self.started) / BUCKET_S)))
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = [0.0] * len(FIELDS)
        return bucket

    def add(self, at: float, field: str, value: float = 1.0) -> None:
        self._bucket(at)[FIELDS.index(field)] += value

    def spread(self, start: float, end: float, credit: dict[str, float]) -> None:
        """Credit (``CREDIT`` names) spread evenly over [start, end], bucket by bucket."""
        span = end - start
        if span <= 0:
            self._add_credit(self._bucket(end), credit, 1.0)
            return
        first = max(0, int((start - self.started) / BUCKET_S))
        last = min(MAX_BUCKETS - 1, max(first, int((end - self.started) / BUCKET_S)))
        for index in range(first, last + 1):  # bounded by MAX_BUCKETS
            low = max(start, self.started + index * BUCKET_S)
            high = min(end, self.started + (index + 1) * BUCKET_S)
            # Time outside the buckets piles into the edge ones, as in _bucket: nothing is lost.
            low, high = (start if index == first else low), (end if index == last else high)
            if high > low:
                self._add_credit(self._bucket(low), credit, (high - low) / span)

    @staticmethod
    def _add_credit(bucket: list[float], credit: dict[str, float], share: float) -> None:
        for name, value in credit.items():
            bucket[FIELDS.index(f"credit_{name}")] += value * share

    def drain(self) -> dict[str, list[float]]:
        buckets, self.buckets = self.buckets, {}
        return {str(k): v for k, v in buckets.items()}


def merge(into: dict[int, list[float]], message: dict[str, list[float]]) -> None:
    for key, values in message.items():
        index = int(key)
        if 0 <= index < MAX_BUCKETS and len(values) == len(FIELDS):
            bucket = into.setdefault(index, [0.0] * len(FIELDS))
            for i, value in enumerate(values):
                bucket[i] += float(value)


def between(
    buckets: dict[int, list[float]], start_s: float, end_s: float, fields: tuple[str, ...]
) -> dict[str, float]:
    """The sums of ``fields`` between two instants (seconds since the test start): whole
    buckets, and the overlapping share of the buckets at either edge."""
    total = dict.fromkeys(fields, 0.0)
    first, last = int(start_s // BUCKET_S), int(end_s // BUCKET_S)
    for index in range(max(0, first), min(MAX_BUCKETS - 1, last) + 1):
        bucket = buckets.get(index)
        low, high = max(start_s, index * BUCKET_S), min(end_s, (index + 1) * BUCKET_S)
        if bucket is None or high <= low:
            continue
        for name in fields:
            total[name] += bucket[FIELDS.index(name)] * (high - low) / BUCKET_S
    return total


def credit_between(
    buckets: dict[int, list[float]], start_s: float, end_s: float
) -> dict[str, float]:
    """The credit (``CREDIT`` names) produced between two instants."""
    found = between(buckets, start_s, end_s, tuple(f"credit_{name}" for name in CREDIT))
    return {name: found[f"credit_{name}"] for name in CREDIT}


def series(buckets: dict[int, list[float]], end_of_load_s: float | None) -> dict[str, Any]:
    """Per-second rates for the summary: seconds, requests/s, output tok/s, TTFT mean, errors."""
    last = max(buckets, default=-1)
    seconds = list(range(last + 1))
    empty = [0.0] * len(FIELDS)
    rows = [buckets.get(s, empty) for s in seconds]
    return {
        "bucket_s": BUCKET_S,
        "seconds": seconds,
        "requests_per_s": [r[0] / BUCKET_S for r in rows],
        "output_tokens_per_s": [r[1] / BUCKET_S for r in rows],
        "ttft_mean_ms": [r[2] / r[3] if r[3] else None for r in rows],
        "errors": [r[4] for r in rows],
        "end_of_load_s": end_of_load_s,
    }
