"""A small Prometheus text-format registry: counters, gauges and histograms."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

Labels = tuple[tuple[str, str], ...]

TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Process-wide counters. Cheap to update from the event loop and worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._hist_counts: dict[Labels, list[int]] = {}
        self._hist_sum: dict[Labels, float] = defaultdict(float)
        self._gauges: list[Callable[[], Iterable[tuple[str, Labels, float]]]] = []
        self._help: dict[str, tuple[str, str]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters[name][key] += amount

    def observe_ttft(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            counts = self._hist_counts.setdefault(key, [0] * (len(TTFT_BUCKETS) + 1))
            for i, bound in enumerate(TTFT_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._hist_sum[key] += seconds

    def add_gauges(self, source: Callable[[], Iterable[tuple[str, Labels, float]]]) -> None:
        """Registers a callback read at scrape time (queue depth, engine counters and the
        like). Samples are gauges unless `describe` gave their family another type; a
        histogram's `_bucket`, `_sum` and `_count` samples belong to its family."""
        self._gauges.append(source)

    def counter_value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._counters):
                self._header(lines, name, "counter")
                for labels, value in sorted(self._counters[name].items()):
                    lines.append(f"{name}{_fmt(labels)} {_num(value)}")
            hist = "inferno_time_to_first_token_seconds"
            if self._hist_counts:
                self._header(lines, hist, "histogram")
            for labels, counts in sorted(self._hist_counts.items()):
                for bound, count in zip(TTFT_BUCKETS, counts, strict=False):
                    lines.append(f"{hist}_bucket{_fmt((*labels, ('le', str(bound))))} {count}")
                lines.append(f"{hist}_bucket{_fmt((*labels, ('le', '+Inf')))} {counts[-1]}")
                lines.append(f"{hist}_sum{_fmt(labels)} {self._hist_sum[labels]:.6f}")
                lines.append(f"{hist}_count{_fmt(labels)} {counts[-1]}")
        seen: set[str] = set()
        for source in self._gauges:
            for name, labels, value in source():
                family = self._family(name)
                if family not in seen:
                    self._header(lines, family, "gauge")
                    seen.add(family)
                lines.append(f"{name}{_fmt(labels)} {_num(value)}")
        return "\n".join(lines) + "\n"

    def _family(self, name: str) -> str:
        for suffix in ("_bucket", "_sum", "_count"):
            base = name.removesuffix(suffix)
            if base != name and self._help.get(base, ("",))[0] == "histogram":
                return base
        return name

    def _header(self, lines: list[str], name: str, default_kind: str) -> None:
        kind, text = self._help.get(name, (default_kind, name.replace("_", " ")))
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}"
