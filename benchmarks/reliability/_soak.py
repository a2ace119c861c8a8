"""Soak: mixed load held for a long time at the concurrency where the sweep finds the knee.

The knee comes from the load profiles' sweep (`python -m loadtests --shape sweep`, MixedUser):
the largest concurrency whose step met the objectives. The soak itself runs `_mix.MIX` from
closed-loop clients so that it can time TTFT per window, while the server's RSS is sampled
from /proc; afterwards `/metrics` must add up.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from inferno.launcher import rss_bytes
from inferno.stats import percentile

from . import _mix, _server
from ._plan import Plan

ROOT = Path(__file__).resolve().parents[2]


def find_knee(base_url: str, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    """Runs the sweep profile; returns its steps and the knee (saturation) concurrency."""
    steps = 1 + max(0, plan.sweep_max_users.bit_length() - 1)
    with tempfile.TemporaryDirectory(prefix="inferno-sweep-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        command = [
            sys.executable, "-m", "loadtests", "--headless", "--only-summary",
            "--host", base_url, "--shape", "sweep", "-u", str(plan.sweep_max_users),
            "--sweep-step-time", str(plan.sweep_step_s), "--summary", str(summary_path),
            "-t", f"{int(steps * plan.sweep_step_s + 60)}s", "MixedUser",
        ]  # fmt: skip
        log(f"sweep: {' '.join(command[2:])}")
        subprocess.run(
            command, cwd=ROOT, capture_output=True, timeout=steps * plan.sweep_step_s + 300
        )
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    shape = summary.get("shape") or {}
    saturation = shape.get("saturation") or {}
    return {
        "command": "python -m loadtests "
        + " ".join(command[3:]).replace(base_url, "URL").replace(str(summary_path), "FILE"),
        "steps": shape.get("steps", []),
        "knee_users": saturation.get("users"),
    }


def soak(base_url: str, pid: int, users: int, plan: Plan, log: Callable[[str], None]) -> dict:
    return asyncio.run(_soak(base_url, pid, users, plan, log))


async def _soak(
    base_url: str, pid: int, users: int, plan: Plan, log: Callable[[str], None]
) -> dict[str, Any]:
    outcomes: list[_mix.Outcome] = []
    rss: list[tuple[float, int]] = []
    load: list[tuple[float, float]] = []  # the machine's 1-minute load average: others run too
    start = time.monotonic()
    until = start + plan.soak_s
    limits = httpx.Limits(max_connections=users + 4, max_keepalive_connections=users + 4)
    timeout = httpx.Timeout(120.0, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def user(number: int) -> None:
            rng = random.Random(number)
            while time.monotonic() < until:
                outcome = await _mix.send(client, base_url, _mix.pick(rng), rng)
                outcomes.append(outcome)
                if outcome.shed:
                    await asyncio.sleep(min(outcome.retry_after or 1.0, 10.0))

        async def sample() -> None:
            while True:
                rss.append((time.monotonic() - start, rss_bytes(pid)))
                load.append((time.monotonic() - start, os.getloadavg()[0]))
                if time.monotonic() >= until:
                    return
                await asyncio.sleep(plan.rss_every_s)
                if len(rss) % 6 == 0:
                    log(f"soak: {time.monotonic() - start:.0f} s, {len(outcomes)} requests")

        await asyncio.gather(sample(), *(user(i) for i in range(users)))
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        idle_after = _server.seconds_until_idle(http)
        accounting = _server.settled_accounting(http)
    return _summarise(outcomes, rss, start, plan) | {
        "load_average_1m": [[round(t), round(value, 2)] for t, value in load],
        "users": users,
        "idle_after_s": idle_after,
        "accounting": accounting,
    }


def _summarise(
    outcomes: list[_mix.Outcome], rss: list[tuple[float, int]], start: float, plan: Plan
) -> dict[str, Any]:
    after_warmup = [b for t, b in rss if t >= plan.warmup_s] or [rss[-1][1]]
    baseline = after_warmup[0]
    window = plan.warmup_s  # first and last windows are as long as the warm-up

    def ttft_p95(lo: float, hi: float) -> float | None:
        values = [o.ttft_s for o in outcomes if lo <= o.started - start < hi and o.ttft_s]
        return percentile(values, 95)

    first = ttft_p95(0.0, window)
    last = ttft_p95(plan.soak_s - window, plan.soak_s)
    windows = int(plan.soak_s // window)
    per_window = [_round(ttft_p95(i * window, (i + 1) * window)) for i in range(windows)]
    by_kind: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = by_kind.setdefault(o.kind, {"requests": 0, "complete": 0, "shed": 0, "errors": 0})
        row["requests"] += 1
        row["complete"] += o.complete
        row["shed"] += o.shed
        row["errors"] += o.error
    errors = [o for o in outcomes if o.error]
    return {
        "duration_s": plan.soak_s,
        "requests": len(outcomes),
        "by_kind": by_kind,
        "errors": len(errors),
        "error_examples": sorted({o.problem for o in errors})[:5],
        "shed": sum(o.shed for o in outcomes),
        "rss_samples_mib": [[round(t), round(b / 2**20, 1)] for t, b in rss],
        "rss_after_warmup_mib": round(baseline / 2**20, 1),
        "rss_end_mib": round(rss[-1][1] / 2**20, 1),
        "rss_max_after_warmup_mib": round(max(after_warmup) / 2**20, 1),
        "rss_growth_pct": round(100.0 * (max(after_warmup) - baseline) / baseline, 2),
        "ttft_window_s": window,
        "ttft_p95_first_s": _round(first),
        "ttft_p95_last_s": _round(last),
        "ttft_change_pct": _round(100.0 * (last - first) / first) if first and last else None,
        "ttft_p95_per_window_s": per_window,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
