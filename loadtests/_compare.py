"""``python -m loadtests compare A.json B.json [...]``: did a change make a latency worse?

Each later summary is compared with the first (the baseline), metric by metric: the difference of
the mean and of p50/p95/p99 of TTFT, ITL, TPOT and E2E, with a bootstrap confidence interval
drawn from the raw samples every summary carries (``samples``: a uniform subsample of at most
2000 per metric). The resampling is seeded and bounded (``--resamples``, at most 10,000), so the
same files always give the same answer. A change is called worse or better only when the whole
interval lies on one side of zero. Throughputs are single numbers per run: their difference is
printed without an interval.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferno.stats import percentile

METRICS = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")
STATS = ("mean", "p50", "p95", "p99")
THROUGHPUTS = ("requests_per_s", "output_tokens_per_s")
MAX_RESAMPLES = 10_000


@dataclass
class Difference:
    metric: str
    stat: str
    baseline: float
    other: float
    low: float | None = None  # confidence interval of other - baseline
    high: float | None = None

    @property
    def delta(self) -> float:
        return self.other - self.baseline

    @property
    def verdict(self) -> str:
        if self.low is None or self.high is None:
            return ""
        if self.low > 0:
            return "worse (higher)"
        if self.high < 0:
            return "better (lower)"
        return "no clear change"


def statistic(values: list[float], stat: str) -> float:
    if stat == "mean":
        return sum(values) / len(values)
    return percentile(values, float(stat[1:])) or 0.0


def bootstrap(
    a: list[float], b: list[float], stat: str, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile-bootstrap interval of stat(b) - stat(a), resampling each run on its own."""
    rng = random.Random(seed)
    deltas = sorted(
        statistic(rng.choices(b, k=len(b)), stat) - statistic(rng.choices(a, k=len(a)), stat)
        for _ in range(resamples)
    )
    tail = (1.0 - confidence) / 2.0
    low = deltas[int(tail * (resamples - 1))]
    high = deltas[int((1.0 - tail) * (resamples - 1) + 0.5)]
    return low, high


def compare(
    baseline: dict[str, Any],
    other: dict[str, Any],
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Difference]:
    out = []
    for metric in METRICS:
        a = (baseline.get("samples") or {}).get(metric) or []
        b = (other.get("samples") or {}).get(metric) or []
        if not a or not b:
            continue
        for stat in STATS:
            diff = Difference(metric, stat, statistic(a, stat), statistic(b, stat))
            diff.low, diff.high = bootstrap(a, b, stat, resamples, confidence, seed)
            out.append(diff)
    for key in THROUGHPUTS:
        base, new = baseline["throughput"].get(key), other["throughput"].get(key)
        if base is not None and new is not None:
            out.append(Difference(key, "run", base, new))
    return out


def format_differences(label: str, diffs: list[Difference], confidence: float) -> str:
    lines = [
        label,
        f"{'metric':<22}{'baseline':>11}{'this run':>11}{'change':>10}{'':>4}"
        f"{f'{confidence:.0%} interval of the change':<30}  verdict",
    ]
    for d in diffs:
        name = f"{d.metric} {d.stat}" if d.stat != "run" else d.metric
        share = f"{d.delta / d.baseline:+.1%}" if d.baseline else ""
        interval = f"[{d.low:+.2f}, {d.high:+.2f}]" if d.low is not None else "-"
        lines.append(
            f"{name:<22}{d.baseline:>11.2f}{d.other:>11.2f}{d.delta:>+10.2f}{share:>8}  "
            f"{interval:<26}  {d.verdict}"
        )
    return "\n".join(lines)


def plot(path: Path, runs: list[tuple[str, list[Difference]]], confidence: float) -> None:
    """One chart per run: each latency statistic's change with its interval."""
    from plotly import graph_objects as go

    from ._report import page

    figures = []
    for label, diffs in runs:
        rows = [d for d in diffs if d.low is not None and d.baseline]
        fig = go.Figure(
            go.Scatter(
                x=[100 * d.delta / d.baseline for d in rows],
                y=[f"{d.metric} {d.stat}" for d in rows],
                mode="markers",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [100 * (d.high - d.delta) / d.baseline for d in rows],  # type: ignore[operator]
                    "arrayminus": [100 * (d.delta - d.low) / d.baseline for d in rows],  # type: ignore[operator]
                },
            )
        )
        fig.add_vline(x=0, line={"color": "#888"})
        fig.update_layout(
            title=f"{label}: change against the baseline, % ({confidence:.0%} bootstrap interval)",
            height=140 + 28 * len(rows),
            template="plotly_white",
            xaxis_title="change, % of the baseline",
        )
        figures.append(fig)
    text = "\n\n".join(format_differences(label, diffs, confidence) for label, diffs in runs)
    path.write_text(page("Inferno comparison", "Inferno comparison", text, figures), "utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests compare",
        description="Compare load summaries (--summary or --report's summary.json) with the "
        "first one, with bootstrap confidence intervals.",
    )
    parser.add_argument("baseline", type=Path)
    parser.add_argument("others", type=Path, nargs="+")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (0.95)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (0)")
    parser.add_argument("--plot", type=Path, help="also write the differences as an HTML chart")
    args = parser.parse_args(argv)
    if not 10 <= args.resamples <= MAX_RESAMPLES or not 0.5 <= args.confidence < 1.0:
        parser.error(f"--resamples must be 10..{MAX_RESAMPLES}, --confidence 0.5..1")
    baseline = json.loads(args.baseline.read_text())
    runs = []
    for path in args.others:
        diffs = compare(baseline, json.loads(path.read_text()), resamples=args.resamples,
                        confidence=args.confidence, seed=args.seed)  # fmt: skip
        runs.append((f"{path} against {args.baseline}", diffs))
        print(format_differences(runs[-1][0], diffs, args.confidence) + "\n")
    if args.plot:
        plot(args.plot, runs, args.confidence)
        print(f"chart written to {args.plot}")
    return 0
