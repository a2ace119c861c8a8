"""The end-of-run summary: JSON for machines, a short table for people."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ._recorder import METRICS, Counts, Reservoir, describe


def view(counts: Counts, metrics: dict[str, Reservoir], duration_s: float) -> dict[str, Any]:
    """Counts, rates, throughput and percentiles of one interval (whole run or a sweep step).

    error_rate excludes shed requests (they are the server protecting itself, reported as
    shed_rate); throughput counts successful requests only.
    """
    answered = counts.ok + counts.errors
    total = answered + counts.shed
    duration_s = max(duration_s, 1e-9)
    return {
        "duration_s": duration_s,
        "requests": {
            "total": total,
            "ok": counts.ok,
            "errors": counts.errors,
            "shed": counts.shed,
            "error_rate": counts.errors / answered if answered else 0.0,
            "shed_rate": counts.shed / total if total else 0.0,
        },
        "throughput": {
            "requests_per_s": counts.ok / duration_s,
            "output_tokens_per_s": counts.output_tokens / duration_s,
            "prompt_tokens_per_s": counts.prompt_tokens / duration_s,
            "total_tokens_per_s": (counts.output_tokens + counts.prompt_tokens) / duration_s,
        },
        "tokens": {
            "prompt": counts.prompt_tokens,
            "output": counts.output_tokens,
            "responses_with_usage": counts.tokens_from_usage,
            "responses_estimated": counts.tokens_estimated,
        },
        "metrics": {m: describe(metrics[m]) for m in METRICS},
    }


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON; null is what a reader can handle."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(_json_safe(summary), indent=2) + "\n", encoding="utf-8")


_LABELS = {
    "ttft_ms": "TTFT ms",
    "itl_ms": "ITL ms",
    "tpot_ms": "TPOT ms",
    "e2e_ms": "E2E ms",
    "output_tokens": "out tokens/req",
}


def format_table(summary: dict[str, Any]) -> str:
    req, thr, shape = summary["requests"], summary["throughput"], summary["shape"]
    lines = [
        f"Inferno summary - shape {shape['name']}, {summary['duration_s']:.1f} s, "
        f"model {summary.get('model') or '?'}",
        f"requests  ok {req['ok']}  errors {req['errors']}  shed {req['shed']}  "
        f"(error rate {req['error_rate']:.2%}, shed rate {req['shed_rate']:.2%})",
        f"throughput  {thr['requests_per_s']:.2f} req/s  "
        f"{thr['output_tokens_per_s']:.1f} output tok/s  "
        f"{thr['prompt_tokens_per_s']:.1f} prompt tok/s",
        f"{'metric':<16}{'count':>8}{'mean':>10}{'p50':>10}{'p90':>10}{'p95':>10}{'p99':>10}",
    ]
    for metric, label in _LABELS.items():
        d = summary["metrics"].get(metric) or {}
        if not d.get("count"):
            continue
        cells = "".join(f"{d[k]:>10.1f}" for k in ("mean", "p50", "p90", "p95", "p99"))
        lines.append(f"{label:<16}{d['count']:>8}{cells}")
    sweep = shape.get("saturation")
    if shape["name"] == "sweep":
        if sweep:
            lines.append(
                f"saturation  {sweep['users']} users: {sweep['requests_per_s']:.2f} req/s, "
                f"{sweep['output_tokens_per_s']:.1f} output tok/s"
            )
        else:
            lines.append("saturation  no step met the objectives")
    slo = summary.get("slo")
    if slo:
        verdict = "PASS" if slo["passed"] else "FAIL"
        lines.append(f"SLO {verdict}" + "".join(f"\n  violated {v}" for v in slo["violations"]))
    return "\n".join(lines)
