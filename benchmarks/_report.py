"""Results: medians and spread over runs, ratios to the best peer, and the Markdown tables."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ._stats import across_runs, ratios

# Metrics that describe rather than rank: no ratio is computed for these.
UNRANKED = re.compile(r"(_errors|_shed|_requests|_output_tokens|_kind|error_samples|_error)$")
LIBRARY = "library (in-process)"


def summarise(runs: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """runs[i][peer][metric] -> summary[peer][metric] and ratios[metric][peer]."""
    peers: list[str] = []
    for run in runs:
        peers += [p for p in run if p not in peers]
    summary: dict[str, dict[str, Any]] = {}
    for peer in peers:
        metrics: list[str] = []
        for run in runs:
            metrics += [m for m in run.get(peer, {}) if m not in metrics]
        summary[peer] = {}
        for metric in metrics:
            values = [run.get(peer, {}).get(metric) for run in runs]
            numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if numeric and len(numeric) == len([v for v in values if v is not None]):
                summary[peer][metric] = across_runs(numeric)
    ranked: dict[str, dict[str, float | None]] = {}
    servers = [p for p in peers if p != LIBRARY]
    all_metrics = {m for p in servers for m in summary[p]}
    for metric in sorted(all_metrics):
        if UNRANKED.search(metric):
            continue
        medians = {p: summary[p].get(metric, {}).get("median") for p in servers}
        ranked[metric] = ratios(medians, metric)
    return {"summary": summary, "ratios": ranked}


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _count(value: float | None) -> str:
    return "–" if value is None else str(int(value))


def cell(data: dict[str, Any], peer: str, metric: str) -> str:
    entry = data["summary"].get(peer, {}).get(metric)
    if not entry or entry.get("median") is None:
        return "–"
    text = _num(entry["median"])
    spread = entry.get("spread_pct")
    if spread is not None and entry.get("runs", 0) > 1:
        text += f" ±{spread:.0f}%"
    ratio = data["ratios"].get(metric, {}).get(peer)
    if ratio is not None:
        text += f" ({ratio:.2f}×)"
    return text


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(result: dict[str, Any]) -> str:
    data = {"summary": result["summary"], "ratios": result["ratios"]}
    peers = [p for p in result["summary"] if p != LIBRARY]
    plan, model, machine = result["plan"], result["model"], result["machine"]
    c = plan["overhead_concurrency"]
    out = [
        f"Measured {result['date']} with `{result['command']}` "
        f"({len(result['runs'])} runs, A/B interleaved, {result['duration_s'] / 60:.1f} min).",
        "",
        f"- machine: {machine['cores']} cores, {machine['cpu_model']}, "
        f"{machine['memory_gib']} GiB, {machine['system']}, Python {machine['python']}; "
        f"load average at start {machine['load_average_at_start']}",
        f"- model: `{model['path_name']}` ({model['name']}, {model['size_bytes'] / 1e6:.1f} MB), "
        f"served as `{model['model_id']}`; n_ctx {result['n_ctx']}, {result['threads']} "
        "thread(s) for every peer",
    ]
    if result.get("parallel"):
        out.append(
            f"- {result['parallel']} sequences and batches of {result['n_batch']} tokens for "
            "every peer that batches (a unified KV cache of sequences × n_ctx cells); "
            "llama-cpp-python's server runs one request at a time"
        )
    if result.get("no_repack"):
        out.append(
            "- llama.cpp weight repacking off in every peer (`--no-repack`): with it, this "
            "model crashes llama.cpp on this CPU"
        )
    for peer, info in result["peers"].items():
        versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        out.append(f"- {peer}: {versions}")
    for peer, reason in result.get("skipped", {}).items():
        out.append(f"- {peer}: skipped ({reason})")
    out += [
        "",
        "Cells: median over the runs, ± the spread ((max − min) / median), and in brackets the "
        "ratio to the best peer (1.00× = best; 2.00× = half the throughput or twice the "
        "latency).",
        "",
        f"**Per-request overhead**: /v1/models closed loop for {plan['overhead_s']:g} s; "
        f"{plan['one_token_requests']} sequential 1-token {result['one_token_kind']} requests",
        "",
    ]
    rows = [
        [
            p,
            cell(data, p, f"models_c{c}_rps"),
            cell(data, p, "one_token_p50_ms"),
            cell(data, p, "one_token_p99_ms"),
        ]
        for p in peers
    ]
    out += markdown_table(
        ["peer", f"/v1/models req/s (c={c})", "1-token p50 ms", "1-token p99 ms"], rows
    )
    out += ["", f"**Single stream**: {plan['single_tokens']}-token completion, temperature 0", ""]
    single = ("ttft_ms", "decode_tok_s", "e2e_ms", "e2e_tok_s")
    rows = [[p, *(cell(data, p, f"single_{m}") for m in single)] for p in peers]
    if LIBRARY in result["summary"]:
        for label, prefix in (
            ("create_completion(stream=True)", "single_"),
            ("generate()", "generate_"),
        ):
            rows.append([f"library: `{label}`", *(cell(data, LIBRARY, prefix + m) for m in single)])
    out += markdown_table(
        ["peer", "TTFT ms", "decode tok/s", "whole stream ms", "whole stream tok/s"], rows
    )
    out += [
        "",
        f"**Concurrent streams**: {plan['level_tokens']}-token completions, closed loop for "
        f"{plan['level_s']:g} s per level",
        "",
    ]
    rows = []
    for level in plan["levels"]:
        for p in peers:
            m = f"c{level}_"
            errors = _count(result["summary"].get(p, {}).get(m + "errors", {}).get("max"))
            shed = _count(result["summary"].get(p, {}).get(m + "shed", {}).get("max"))
            rows.append(
                [
                    str(level),
                    p,
                    cell(data, p, m + "agg_tok_s"),
                    cell(data, p, m + "ttft_p50_ms"),
                    cell(data, p, m + "ttft_p95_ms"),
                    cell(data, p, m + "itl_p95_ms"),
                    f"{errors} / {shed}",
                ]
            )
    header = ["streams", "peer", "output tok/s", "TTFT p50 ms", "TTFT p95 ms", "ITL p95 ms"]
    out += markdown_table([*header, "errors / shed (max)"], rows)
    embed = [
        b
        for b in plan["embed_batches"]
        if any(f"embed_b{b}_inputs_s" in s for s in (result["summary"].get(p, {}) for p in peers))
    ]
    if embed:
        out += ["", "**Embeddings**: inputs/s, one request at a time", ""]
        rows = [[p, *(cell(data, p, f"embed_b{b}_inputs_s") for b in embed)] for p in peers]
        out += markdown_table(["peer", *(f"batch {b}" for b in embed)], rows)
    return "\n".join(out) + "\n"


def update_doc(doc: Path, key: str, body: str) -> None:
    """Replace the block between this model's markers, or append a new block."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    block = f"{start}\n{body}{end}"
    text = doc.read_text(encoding="utf-8") if doc.is_file() else "# Performance\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _old, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    doc.write_text(text, encoding="utf-8")
