"""docs/compatibility.md from the compat JSON: a feature matrix, then each peer's deviations."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Display order of the suite's feature areas (compliance/_report.py AREAS).
AREAS = (
    "models",
    "chat",
    "completions",
    "streaming",
    "tools",
    "context",
    "embeddings",
    "responses",
    "errors",
    "sdk",
    "fuzz",
    "transport",
    "clients",
)
GENERIC_BASE = "http://127.0.0.1:8000"
EXCERPT = 160


def sanitise(value: Any, base_url: str) -> Any:
    """Make excerpts stable and local-path free: the run's random port becomes a fixed one,
    and paths a server echoes back (tracebacks, model files) lose this machine's prefixes."""
    if isinstance(value, str):
        value = value.replace(base_url, GENERIC_BASE)
        for prefix, shown in _PREFIXES:
            value = value.replace(prefix, shown)
        return value
    if isinstance(value, dict):
        return {k: sanitise(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitise(v, base_url) for v in value]
    return value


# Longest first: the environment usually lives inside the checkout, both inside the home.
_PREFIXES = sorted(
    (
        (sys.prefix, "<venv>"),
        (str(Path(__file__).resolve().parent.parent), "<checkout>"),
        (str(Path.home()), "~"),
    ),
    key=lambda pair: -len(pair[0]),
)


def _cell(text: object, limit: int = EXCERPT) -> str:
    flat = " ".join(str(text or "").split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("|", "\\|")


def _code(text: object, limit: int = EXCERPT) -> str:
    body = _cell(text, limit).replace("`", "'")
    return f"`{body}`" if body else ""


def _matrix(data: dict[str, Any]) -> list[str]:
    peers = list(data["peers"])
    lines = [
        "| area | " + " | ".join(peers) + " |",
        "|---|" + "|".join("---" for _ in peers) + "|",
    ]
    areas = [a for a in AREAS if any(a in p.get("matrix", {}) for p in data["peers"].values())]
    for area in areas:
        row = []
        for peer in peers:
            counts = data["peers"][peer].get("matrix", {}).get(area)
            if not counts:
                row.append("–")
                continue
            failed = counts.get("failed", 0) + counts.get("known", 0)
            mark = "✅" if not failed and counts.get("passed") else "❌" if failed else "⏭"
            row.append(f"{mark} {counts.get('passed', 0)} / {failed} / {counts.get('skipped', 0)}")
        lines.append(f"| {area} | " + " | ".join(row) + " |")

    def cells(show: Callable[[dict[str, Any]], str]) -> str:
        out = []
        for peer in peers:
            report = data["peers"][peer]
            out.append(report.get("error") or show(report))
        return " | ".join(out)

    lines.append("| checks passing | " + cells(_check_score) + " |")
    lines.append("| **rules holding (weighted)** | " + cells(_weighted) + " |")
    lines.append("| deviations | " + cells(_deviation_counts) + " |")
    return lines


def _check_score(report: dict[str, Any]) -> str:
    s = report.get("summary") or {}
    if not s:
        return f"{report.get('score')}%" if report.get("score") is not None else "–"
    return f"{s.get('checks_passed')}/{s.get('checks_applicable')} ({s.get('check_score')}%)"


def _weighted(report: dict[str, Any]) -> str:
    value = (report.get("summary") or {}).get("weighted_score")
    return f"**{value}%**" if value is not None else "–"


def _deviation_counts(report: dict[str, Any]) -> str:
    by = (report.get("summary") or {}).get("deviations_by_severity") or {}
    total = sum(by.values())
    parts = ", ".join(f"{n} {sev}" for sev, n in by.items() if n)
    return f"{total}" + (f" ({parts})" if parts else "")


def _deviations(report: dict[str, Any]) -> list[str]:
    """One row per root cause (rule and cause), most severe first, with the checks it broke."""
    found = report.get("deviations") or []
    if not found:
        return ["No deviation found.", ""]
    lines = [
        "| severity | rule | deviation | checks broken | clients it breaks | example request |",
        "|---|---|---|---|---|---|",
    ]
    for d in found:
        checks = [c.split("::")[-1] for c in d["checks"]]
        shown = ", ".join(f"`{_cell(c, 60)}`" for c in checks[:8])
        if len(checks) > 8:
            shown += f" and {len(checks) - 8} more"
        cause = d["cause"] if d["cause"] != d["rule"] else d.get("message") or d["reason"]
        request = (d.get("request") or "").replace(GENERIC_BASE, "")
        status = f" → {d['status']}" if d.get("status") is not None else ""
        lines.append(
            f"| {d['severity']} | `{d['rule']}` | {_cell(cause, 200)} | {shown} | "
            f"{_cell(', '.join(d.get('clients') or []) or '–', 120)} | "
            f"{_code(request, 120)}{status} |"
        )
    return [*lines, ""]


def _area_index(area: str) -> int:
    return AREAS.index(area) if area in AREAS else len(AREAS)


def _skips(report: dict[str, Any]) -> list[str]:
    reasons = Counter(
        _cell(r.get("reason") or "skipped", 140)
        for r in report.get("results", [])
        if r["outcome"] == "skipped"
    )
    if not reasons:
        return []
    lines = ["Skipped:", ""]
    lines += [f"- {count} × {reason}" for reason, count in reasons.most_common()]
    return [*lines, ""]


def render(data: dict[str, Any], source: str) -> str:
    model, machine = data["model"], data["machine"]
    out = [
        "# Compatibility",
        "",
        "The compliance suite (`compliance/`, preset "
        f"`{data['preset']}` with the real clients, profile `openai`) run against the reference "
        "server and the servers people would otherwise run locally on the same library, on the "
        "same model. Regenerate with `make compat` (`python -m benchmarks.compat`); the raw data "
        f"is `benchmarks/results/{source}`. Generated: edit the generator, not this file.",
        "",
        f"- date: {data['date']}; machine: {machine['cores']} cores, {machine['cpu_model']}",
        f"- model: `{model['path_name']}` served as `{model['model_id']}`",
    ]
    for peer, report in data["peers"].items():
        versions = ", ".join(f"{k} {v}" for k, v in (report.get("versions") or {}).items())
        out.append(f"- {peer}: {versions}")
    for peer, reason in (data.get("skipped") or {}).items():
        out.append(f"- {peer}: not run ({_cell(reason, 200)})")
    out += [
        "",
        "## Feature matrix",
        "",
        "Cells: passed / failed / skipped checks. A skip is an optional feature the server "
        "declined explicitly (400, 404, 405, 422 or 501) or a check that needs an option this "
        "run did not give (e.g. `--api-key`). *Rules holding* is the verdict: every rule the run "
        "exercised weighs by its severity (breaks-clients 3, contract 2, strict 1) and a rule "
        "with any deviation loses its weight, so one root cause counts once however many checks "
        "it fails.",
        "",
        *_matrix(data),
        "",
        "## Deviations",
        "",
        "Each row is one root cause: its rule and severity, what was wrong, the checks it broke, "
        "the clients known to break on it (see `docs/compliance.md`), and a request that shows "
        "it (replay it against a server on port 8000; `benchmarks/results/` has every failing "
        "request, response excerpt and reproduction command).",
        "",
    ]
    for peer, report in data["peers"].items():
        out += [f"### {peer}", ""]
        if report.get("error"):
            out += [f"Not measured: {report['error']}", ""]
            continue
        out += _deviations(report)
        out += _skips(report)
    return "\n".join(out).rstrip("\n") + "\n"
