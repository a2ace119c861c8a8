"""Raw LLM samples per process, shipped to the master and merged there.

Locust's own statistics round response times into buckets (to 10 ms above 100 ms, to 100 ms above
1 s), which is too coarse for ITL and for 5 ms accuracy, so percentiles come from raw samples.
Memory stays bounded: each metric keeps at most ``CAP`` samples (reservoir sampling keeps the
percentiles unbiased), while counts, sums and maxima stay exact.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from inferno.stats import percentile

from . import _timeline
from ._slo import meets
from ._window import Credit, Live, LoadWindow

METRICS = (
    "ttft_ms",
    "itl_ms",
    "tpot_ms",
    "e2e_ms",
    "output_tokens",
    "reasoning_ttft_ms",  # streams that carried reasoning: to its first token ...
    "answer_ttft_ms",  # ... and to the first token of the answer
    "send_lag_ms",  # open loop: how long after its due time each arrival left
)
CAP = 200_000
MAX_ERROR_REASONS = 50
MAX_TURNS = 100
TURN_CAP = 10_000  # TTFT samples kept per turn number: 100 turns stay within a few tens of MB


class Reservoir:
    """Uniform sample of at most ``cap`` values plus exact count/sum/max."""

    def __init__(self, cap: int = CAP, seed: int = 0) -> None:
        self.cap = cap
        self.values: list[float] = []
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        if len(self.values) < self.cap:
            self.values.append(value)
        else:
            slot = self._rng.randrange(self.count)
            if slot < self.cap:
                self.values[slot] = value

    def extend(self, values: list[float]) -> None:
        for value in values:
            self.add(value)


def describe(res: Reservoir) -> dict[str, float | int]:
    out: dict[str, float | int] = {"count": res.count}
    if not res.count:
        return out
    out["mean"] = res.total / res.count
    for pct in (50, 90, 95, 99):
        out[f"p{pct}"] = _known(percentile(res.values, pct))
    out["max"] = res.max
    return out


@dataclass
class Counts:
    ok: int = 0
    errors: int = 0
    shed: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    tokens_from_usage: int = 0
    tokens_estimated: int = 0
    # Requests that met every per-request objective of --slo (all successes when none is set).
    good: int = 0
    good_output_tokens: int = 0
    # usage.prompt_tokens_details.cached_tokens, from the responses that reported it.
    cached_tokens: int = 0
    cache_reports: int = 0
    cache_report_prompt_tokens: int = 0
    # Open loop: arrivals due, those sent after the tolerance, those the in-flight cap refused.
    arrivals: int = 0
    late: int = 0
    dropped: int = 0

    def add(self, other: dict[str, int]) -> None:
        for key, value in other.items():
            if hasattr(self, key):
                setattr(self, key, getattr(self, key) + int(value))

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Window:
    """Samples and counts of one interval (a sweep step); exact-enough with a smaller cap."""

    started: float = field(default_factory=time.monotonic)
    counts: Counts = field(default_factory=Counts)
    metrics: dict[str, Reservoir] = field(
        default_factory=lambda: {m: Reservoir(cap=50_000) for m in METRICS}
    )


class TurnStats:
    """One turn number of the conversations: TTFT samples, prompt and cached tokens."""

    COUNTS = ("requests", "prompt_tokens", "cached_tokens", "cache_reports")

    def __init__(self) -> None:
        self.ttft = Reservoir(cap=TURN_CAP)
        self.counts = dict.fromkeys(self.COUNTS, 0)

    def merge(self, entry: dict[str, Any]) -> None:
        self.ttft.extend(entry.get("ttft_ms") or [])
        for key in self.COUNTS:
            self.counts[key] += int(entry.get(key) or 0)

    def as_dict(self) -> dict[str, Any]:
        n, reports = self.counts["requests"], self.counts["cache_reports"]
        cached = self.counts["cached_tokens"]
        return {
            **self.counts,
            "ttft_ms": describe(self.ttft),
            "prompt_tokens_per_request": self.counts["prompt_tokens"] / n if n else 0.0,
            "cached_tokens_per_request": cached / reports if reports else None,
        }


class Batch:
    """What one process recorded since its last report: plain lists, cheap to msgpack."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {m: [] for m in METRICS}
        self.by_name: dict[str, Counts] = {}
        self.errors: Counter[str] = Counter()
        self.turns: dict[int, dict[str, Any]] = {}
        self.credit = Credit()  # what this process produced inside the load window

    def turn(self, number: int) -> dict[str, Any]:
        entry = self.turns.get(number)
        if entry is None:
            entry = self.turns[number] = {"ttft_ms": [], **{k: 0 for k in TurnStats.COUNTS}}
        return entry

    def counts_for(self, name: str) -> Counts:
        counts = self.by_name.get(name)
        if counts is None:
            counts = self.by_name[name] = Counts()
        return counts

    def to_message(self) -> dict[str, Any]:
        return {
            "samples": {m: v[-CAP:] for m, v in self.samples.items() if v},
            "by_name": {n: c.as_dict() for n, c in self.by_name.items()},
            "errors": dict(self.errors.most_common(MAX_ERROR_REASONS)),
            "turns": {str(k): {**v, "ttft_ms": v["ttft_ms"][-CAP:]} for k, v in self.turns.items()},
            "window": self.credit.as_dict(),
        }

    def empty(self) -> bool:
        return not self.by_name and self.credit.empty()


class Aggregate:
    """Everything merged on the process that writes the summary (master or local runner)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.metrics = {m: Reservoir() for m in METRICS}
        self.by_name: dict[str, Counts] = {}
        self.errors: Counter[str] = Counter()
        self.window = Window()
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.stopped: float | None = None
        self.reports = 0
        self.model: str | None = None
        self.turns: dict[int, TurnStats] = {}
        self.credit = Credit()
        self.timeline: dict[int, list[float]] = {}

    def merge(self, message: dict[str, Any]) -> None:
        self.reports += 1
        self.model = message.get("model") or self.model
        for metric, values in (message.get("samples") or {}).items():
            if metric in self.metrics:
                self.metrics[metric].extend(values)
                self.window.metrics[metric].extend(values)
        for name, counts in (message.get("by_name") or {}).items():
            self.by_name.setdefault(name, Counts()).add(counts)
            self.window.counts.add(counts)
        for reason, count in (message.get("errors") or {}).items():
            if reason in self.errors or len(self.errors) < MAX_ERROR_REASONS:
                self.errors[reason] += count
            else:
                self.errors["(other)"] += count
        self.credit.add(message.get("window") or {})
        _timeline.merge(self.timeline, message.get("timeline") or {})
        for number, entry in (message.get("turns") or {}).items():
            turn = int(number)
            if 0 < turn <= MAX_TURNS:
                self.turns.setdefault(turn, TurnStats()).merge(entry)

    def totals(self) -> Counts:
        total = Counts()
        for counts in self.by_name.values():
            total.add(counts.as_dict())
        return total

    def new_window(self) -> Window:
        """Start a fresh interval and return the one that just ended."""
        ended, self.window = self.window, Window()
        return ended

    def mark_stopped(self) -> None:
        """The load ended; later completions still count but no longer stretch the duration."""
        if self.stopped is None:
            self.stopped = time.monotonic()

    def duration_s(self) -> float:
        end = self.stopped if self.stopped is not None else time.monotonic()
        return max(end - self.started, 1e-9)


class Recorder:
    """Process-wide sink used by the users; on a worker it only buffers until the next report."""

    def __init__(self) -> None:
        self.batch = Batch()
        self.aggregate = Aggregate()
        # Local and master processes merge immediately; workers ship batches to the master.
        self.buffer_only = False
        self.objectives: dict[str, float] = {}  # per-request objectives that make a request good
        self.window = LoadWindow()
        self.timeline = _timeline.Timeline()

    def begin(self, start: float) -> Live:
        """A request left at ``start`` (perf_counter); pass the handle to ``ok`` or ``cut_off``."""
        return self.window.begin(start)

    def cut_off(self, live: Live, now: float) -> None:
        """The request was stopped before it finished (the load ended under it)."""
        if not live.settled:
            credit = self.window.cut_off(live, now, self.objectives)
            self.batch.credit.add(credit.as_dict())
            end = now if self.window.end is None else min(now, self.window.end)
            self.timeline.spread(live.start, end, credit.timeline_share())
            self._flush_local()

    def end_window(self, now: float) -> None:
        """The load ended on this process; later output no longer counts toward throughput."""
        if self.window.end is None:
            self.window.end = now

    def end_of_load_s(self) -> float | None:
        """When the load ended, in seconds since this process's test start."""
        end = self.window.end
        return None if end is None else end - self.timeline.started

    def _on_timeline(
        self, live: Live, output_tokens: int, ttft_s: float | None, e2e_s: float, good: bool
    ) -> None:
        timeline, result = self.timeline, live.stream
        whole = Credit(1.0, float(output_tokens), 0.0, float(good), float(output_tokens * good))
        timeline.spread(live.start, live.start + e2e_s, whole.timeline_share())
        if result is not None and result.first_content_at is not None and result.content_events:
            per_event = output_tokens / result.content_events
            at = result.first_content_at
            timeline.add(at, "output_tokens", per_event)
            for gap in result.itl_s:
                at += gap
                timeline.add(at, "output_tokens", per_event)
            done = result.done_at or at
        else:
            done = time.perf_counter()
            timeline.add(done, "output_tokens", output_tokens)
        timeline.add(done, "requests")
        if ttft_s is not None:
            timeline.add(live.start + ttft_s, "ttft_sum_ms", ttft_s * 1000.0)
            timeline.add(live.start + ttft_s, "ttft_count")

    def _flush_local(self) -> None:
        if not self.buffer_only and not self.batch.empty():
            self.aggregate.merge(self.drain())

    def drain(self) -> dict[str, Any]:
        batch, self.batch = self.batch, Batch()
        return {**batch.to_message(), "timeline": self.timeline.drain()}

    def ok(
        self,
        name: str,
        *,
        e2e_s: float,
        output_tokens: int = 0,
        prompt_tokens: int = 0,
        tokens_from_usage: bool = True,
        ttft_s: float | None = None,
        itl_s: list[float] | None = None,
        tpot_s: float | None = None,
        cached_tokens: int | None = None,
        reasoning_ttft_s: float | None = None,
        answer_ttft_s: float | None = None,
        turn: int | None = None,
        live: Live | None = None,
    ) -> None:
        b = self.batch
        counts = b.counts_for(name)
        counts.ok += 1
        counts.output_tokens += output_tokens
        counts.prompt_tokens += prompt_tokens
        good = meets(self.objectives, ttft_s=ttft_s, itl_s=itl_s, tpot_s=tpot_s, e2e_s=e2e_s)
        if good:
            counts.good += 1
            counts.good_output_tokens += output_tokens
        # Users that do not track their requests: the answer just arrived, so it left e2e ago.
        live = live or Live(time.perf_counter() - e2e_s)
        credit = self.window.finished(
            live, e2e_s=e2e_s, output_tokens=output_tokens, prompt_tokens=prompt_tokens, good=good
        )
        b.credit.add(credit.as_dict())
        self._on_timeline(live, output_tokens, ttft_s, e2e_s, good)
        if cached_tokens is not None:
            counts.cached_tokens += cached_tokens
            counts.cache_reports += 1
            counts.cache_report_prompt_tokens += prompt_tokens
        if output_tokens:
            if tokens_from_usage:
                counts.tokens_from_usage += 1
            else:
                counts.tokens_estimated += 1
            b.samples["output_tokens"].append(float(output_tokens))
        b.samples["e2e_ms"].append(e2e_s * 1000.0)
        if ttft_s is not None:
            b.samples["ttft_ms"].append(ttft_s * 1000.0)
        if itl_s:
            b.samples["itl_ms"].extend(gap * 1000.0 for gap in itl_s)
        if tpot_s is not None:
            b.samples["tpot_ms"].append(tpot_s * 1000.0)
        if reasoning_ttft_s is not None:
            b.samples["reasoning_ttft_ms"].append(reasoning_ttft_s * 1000.0)
            if answer_ttft_s is not None:
                b.samples["answer_ttft_ms"].append(answer_ttft_s * 1000.0)
        if turn is not None and 0 < turn <= MAX_TURNS:
            entry = b.turn(turn)
            entry["requests"] += 1
            entry["prompt_tokens"] += prompt_tokens
            if ttft_s is not None:
                entry["ttft_ms"].append(ttft_s * 1000.0)
            if cached_tokens is not None:
                entry["cached_tokens"] += cached_tokens
                entry["cache_reports"] += 1
        self._flush_local()

    def arrival(self, name: str, *, lag_s: float, sent: bool, late: bool) -> None:
        """An open-loop arrival came due: sent (maybe late) or dropped at the in-flight cap."""
        counts = self.batch.counts_for(name)
        counts.arrivals += 1
        self.timeline.add(time.perf_counter() - max(0.0, lag_s), "arrivals")
        if not sent:
            counts.dropped += 1
        elif late:
            counts.late += 1
        self.batch.samples["send_lag_ms"].append(max(0.0, lag_s) * 1000.0)
        self._flush_local()

    def error(self, name: str, reason: str) -> None:
        self.batch.counts_for(name).errors += 1
        self.timeline.add(time.perf_counter(), "errors")
        key = f"{name}: {reason}"[:200]
        if key not in self.batch.errors and len(self.batch.errors) >= MAX_ERROR_REASONS:
            key = "(other)"
        self.batch.errors[key] += 1
        self._flush_local()

    def shed(self, name: str, status: int) -> None:
        self.batch.counts_for(name).shed += 1
        self._flush_local()


RECORDER = Recorder()


def _known(value: float | None) -> float:
    return float("nan") if value is None else value
