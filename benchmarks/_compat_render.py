"""docs/compatibility.md from the compat JSON: a feature matrix, then each peer's deviations."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Display order of the suite's feature areas (compliance/_report.py AREAS).
AREAS = (
    "models",
    "chat",
    "completions",
    "streaming",
    "embeddings",
    "responses",
    "errors",
    "sdk",
    "fuzz",
    "transport",
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
    scores = []
    for peer in peers:
        report = data["peers"][peer]
        score = report.get("score")
        scores.append(report.get("error") or (f"**{score}%**" if score is not None else "–"))
    lines.append("| score | " + " | ".join(scores) + " |")
    return lines


def _deviations(report: dict[str, Any]) -> list[str]:
    failures = [r for r in report.get("results", []) if r["outcome"] in ("failed", "known")]
    if not failures:
        return ["No deviation found.", ""]
    # One row per distinct deviation: a missing field fails every check that reads the
    # response, and listing each separately would bury the other findings.
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in sorted(failures, key=lambda r: (_area_index(r["area"]), r["test_id"])):
        details = item.get("details") or {}
        message = _cell(details.get("message") or item.get("reason") or "", 220)
        groups.setdefault((item["area"], message), []).append(item)
    lines = [
        "| area | checks | deviation | example request | status |",
        "|---|---|---|---|---|",
    ]
    for (area, message), items in groups.items():
        rules = []
        for item in items:
            rule = (item.get("details") or {}).get("rule") or item["test_id"].split("::")[-1]
            if rule not in rules:
                rules.append(rule)
        shown = ", ".join(f"`{_cell(r, 60)}`" for r in rules[:12])
        if len(rules) > 12:
            shown += f" and {len(rules) - 12} more"
        details = items[0].get("details") or {}
        request = (details.get("request") or "").replace(GENERIC_BASE, "")
        if details.get("request_body"):
            request = f"{request} {details['request_body']}"
        status = _cell(details.get("status"), 10)
        lines.append(f"| {area} | {shown} | {message} | {_code(request, 200)} | {status} |")
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
        f"`{data['preset']}`, profile `openai`) run against the reference server and the two "
        "servers people would otherwise run locally, on the same model. Regenerate with "
        f"`make compat` (`python -m benchmarks.compat`); the raw data is `benchmarks/results/"
        f"{source}`. Generated: edit the generator, not this file.",
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
        "Cells: passed / failed / skipped checks. A skip is a feature the server declined "
        "explicitly (400, 404, 405, 422 or 501) or a check that needs an option this run did "
        "not give (e.g. `--api-key`).",
        "",
        *_matrix(data),
        "",
        "## Deviations",
        "",
        "Each row is one deviation: the checks that found it (rule names), what was wrong, and "
        "a request that shows it (replay it with `curl` against a server on port 8000; "
        "`benchmarks/results/` has every failing request and response excerpt).",
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
