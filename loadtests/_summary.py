"""The end-of-run summary: JSON for machines, a short table for people."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from ._recorder import METRICS, Counts, Reservoir, describe
from ._window import Credit, rates


def view(
    counts: Counts,
    metrics: dict[str, Reservoir],
    duration_s: float,
    credit: Credit | None = None,
) -> dict[str, Any]:
    """Counts, rates, throughput and percentiles of one interval (whole run or a sweep step).

    error_rate excludes shed requests (they are the server protecting itself, reported as
    shed_rate); throughput counts successful requests only. With ``credit`` (the whole run),
    throughput and goodput rates are what was produced inside the load window (``_window.py``);
    without it, what completed in the interval.
    """
    answered = counts.ok + counts.errors
    total = answered + counts.shed
    duration_s = max(duration_s, 1e-9)
    attempts = total + counts.dropped
    sent = counts.arrivals - counts.dropped
    if credit is None:
        credit = Credit(
            requests=counts.ok,
            output_tokens=counts.output_tokens,
            prompt_tokens=counts.prompt_tokens,
            good_requests=counts.good,
            good_output_tokens=counts.good_output_tokens,
        )
    rate = rates(credit, duration_s)
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
            key: rate[key]
            for key in (
                "requests_per_s",
                "output_tokens_per_s",
                "prompt_tokens_per_s",
                "total_tokens_per_s",
            )
        },
        "window": {
            "requests": credit.requests,
            "output_tokens": credit.output_tokens,
            "cut_off_at_end": credit.cut_off,
            "drained_after_end": credit.drained,
        },
        "tokens": {
            "prompt": counts.prompt_tokens,
            "output": counts.output_tokens,
            "responses_with_usage": counts.tokens_from_usage,
            "responses_estimated": counts.tokens_estimated,
        },
        "goodput": {
            "requests": counts.good,
            "requests_per_s": rate["goodput_requests_per_s"],
            "output_tokens_per_s": rate["goodput_output_tokens_per_s"],
            "ratio": counts.good / attempts if attempts else 0.0,
        },
        "arrivals": {
            "due": counts.arrivals,
            "sent": sent,
            "late": counts.late,
            "dropped": counts.dropped,
            "not_on_time": counts.late + counts.dropped,
            "sent_per_s": sent / duration_s,
        },
        "cache": {
            "responses_reporting": counts.cache_reports,
            "cached_tokens": counts.cached_tokens,
            "share_of_prompt_tokens": (
                counts.cached_tokens / counts.cache_report_prompt_tokens
                if counts.cache_report_prompt_tokens
                else None
            ),
        },
        "metrics": {m: describe(metrics[m]) for m in METRICS},
    }


def credited(step_view: dict[str, Any], credit: Credit, due: float | None = None) -> dict[str, Any]:
    """A view whose throughput and goodput are ``credit`` over its duration: what the interval
    produced, each request counted by the share of its span inside it (and, open loop, the
    arrivals that came due in it, counted on the same clock)."""
    rate = rates(credit, step_view["duration_s"])
    throughput = dict(step_view["throughput"])  # prompt tokens: as completed (not spread)
    throughput["requests_per_s"] = rate["requests_per_s"]
    throughput["output_tokens_per_s"] = rate["output_tokens_per_s"]
    throughput["total_tokens_per_s"] = (
        throughput["prompt_tokens_per_s"] + rate["output_tokens_per_s"]
    )
    goodput = {
        **step_view["goodput"],
        "requests": credit.good_requests,
        "requests_per_s": rate["goodput_requests_per_s"],
        "output_tokens_per_s": rate["goodput_output_tokens_per_s"],
    }
    window = {**step_view["window"], "requests": credit.requests}
    window["output_tokens"] = credit.output_tokens
    arrivals = dict(step_view["arrivals"])
    if due is not None:
        arrivals["due"] = due
    return {
        **step_view,
        "throughput": throughput,
        "goodput": goodput,
        "window": window,
        "arrivals": arrivals,
    }


SAMPLES_KEPT = 2000  # per metric, in the JSON: enough for distributions and bootstrap intervals
SAMPLED = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")


def samples(metrics: dict[str, Reservoir]) -> dict[str, list[float]]:
    """A seeded uniform subsample of each latency's raw samples (for the report and `compare`)."""
    kept = {}
    for metric in SAMPLED:
        values = metrics[metric].values
        if len(values) > SAMPLES_KEPT:
            values = random.Random(0).sample(values, SAMPLES_KEPT)
        kept[metric] = [round(v, 3) for v in values]
    return kept


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


DEFINITIONS = {
    "ttft_ms": "request sent to the first token of any kind: reasoning, answer or tool call",
    "reasoning_ttft_ms": "request sent to the first reasoning token (streams with reasoning)",
    "answer_ttft_ms": "request sent to the first answer token (streams with reasoning)",
    "goodput": "successful requests that met every per-request objective of --slo",
}
_LABELS = {
    "ttft_ms": "TTFT ms",
    "reasoning_ttft_ms": "1st reasoning ms",
    "answer_ttft_ms": "1st answer ms",
    "itl_ms": "ITL ms, per gap",
    "tpot_ms": "TPOT ms, per req",
    "e2e_ms": "E2E ms",
    "output_tokens": "out tokens/req",
    "send_lag_ms": "send lag ms",
}


def format_table(summary: dict[str, Any]) -> str:
    req, thr, shape = summary["requests"], summary["throughput"], summary["shape"]
    lines = [
        f"Inferno summary - shape {shape['name']}, {summary['duration_s']:.1f} s, "
        f"model {summary.get('model') or '?'}"
        + (f", seed {summary['seed']}" if summary.get("seed") is not None else ""),
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
    if (summary["metrics"].get("reasoning_ttft_ms") or {}).get("count"):
        lines.append(
            "  (TTFT = first token of any kind; 1st reasoning / 1st answer: the streams that "
            "reasoned)"
        )
    lines += _arrival_lines(summary) + _goodput_lines(summary) + _cache_lines(summary)
    lines += _turn_lines(summary) + rate_sweep_lines(shape)
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


def _arrival_lines(summary: dict[str, Any]) -> list[str]:
    arr = summary.get("arrivals")
    if not arr:
        return []
    process = arr.get("process", "")
    if arr.get("burstiness") is not None:
        process += f" (burstiness {arr['burstiness']:g})"
    how = {"rate-sweep": "stepped up from", "ramp": "ramping to", "spike": "peaking at"}
    rate = f"{how.get(summary['shape']['name'], 'at')} {arr.get('rate', 0):g} req/s"
    return [
        f"arrivals  {process} {rate}: {arr['due']} due, {arr['sent']} "
        f"sent ({arr['sent_per_s']:.2f}/s achieved); not on time {arr['not_on_time']} "
        f"(late > {arr.get('late_after_ms', 0):g} ms {arr['late']}, dropped at the in-flight cap "
        f"{arr['dropped']})"
    ]


def _goodput_lines(summary: dict[str, Any]) -> list[str]:
    good = summary["goodput"]
    objectives = good.get("objectives")
    if not objectives:
        return []
    within = ", ".join(f"{k}={v:g}" for k, v in objectives.items())
    return [
        f"goodput  {good['requests_per_s']:.2f} req/s  {good['output_tokens_per_s']:.1f} output "
        f"tok/s within {within} ({good['requests']} requests, {good['ratio']:.1%} of all)"
    ]


def _cache_lines(summary: dict[str, Any]) -> list[str]:
    cache = summary["cache"]
    if not cache["responses_reporting"]:
        return ["cache  the server reported no usage.prompt_tokens_details.cached_tokens"]
    share = cache["share_of_prompt_tokens"]
    return [
        f"cache  {cache['cached_tokens']} cached prompt tokens in {cache['responses_reporting']} "
        f"responses" + (f" ({share:.1%} of their prompt tokens)" if share is not None else "")
    ]


def _turn_lines(summary: dict[str, Any]) -> list[str]:
    turns = summary.get("turns")
    if not turns:
        return []
    lines = [f"{'turn':<6}{'requests':>9}{'TTFT p50':>10}{'TTFT p95':>10}{'prompt tok':>12}"
             f"{'cached tok':>12}"]  # fmt: skip
    for number, turn in turns.items():
        ttft = turn["ttft_ms"]
        cached = turn["cached_tokens_per_request"]
        lines.append(
            f"{number:<6}{turn['requests']:>9}{ttft.get('p50', float('nan')):>10.1f}"
            f"{ttft.get('p95', float('nan')):>10.1f}{turn['prompt_tokens_per_request']:>12.1f}"
            + (f"{cached:>12.1f}" if cached is not None else f"{'-':>12}")
        )
    return lines


def rate_sweep_lines(shape: dict[str, Any]) -> list[str]:
    if shape.get("name") != "rate-sweep":
        return []
    lines = [f"{'rate':>8}{'sent/s':>9}{'good/s':>9}{'good tok/s':>12}{'loss':>8}"
             f"{'TTFT p95':>10}  verdict"]  # fmt: skip
    for step in shape.get("steps") or ():
        verdict = "ok" if step["passed"] else "; ".join(step["violations"])
        ttft = step.get("ttft_ms_p95")
        lines.append(
            f"{step['rate']:>8.2f}{step['sent_per_s']:>9.2f}{step['goodput_rps']:>9.2f}"
            f"{step['goodput_output_tokens_per_s']:>12.1f}{step['loss_rate']:>8.1%}"
            f"{(ttft if ttft is not None else float('nan')):>10.1f}  {verdict}"
        )
    knee = shape.get("knee")
    if knee:
        lines.append(
            f"knee  {knee['rate']:g} req/s offered: {knee['goodput_rps']:.2f} good req/s, "
            f"{knee['goodput_output_tokens_per_s']:.1f} good output tok/s"
            f" (stopped: {shape.get('stopped_by')})"
        )
    else:
        lines.append(f"knee  no rate met the objectives (stopped: {shape.get('stopped_by')})")
    return lines
