"""docs/compatibility.md from the compat JSON: a feature matrix, the Open Responses profile's,
then each peer's deviations."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._profiles import OPENRESPONSES

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
        # By host and port, so a WebSocket URL (ws://) loses the random port too.
        authority = re.escape(base_url.split("://", 1)[-1]) + r"(?!\d)"
        value = re.sub(authority, GENERIC_BASE.split("://", 1)[-1], value)
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


def _matrix(
    reports: dict[str, dict[str, Any]], counts: dict[str, dict[str, Any]], label: str = "area"
) -> list[str]:
    """Rows of passed / failed / skipped checks (`counts`: row → peer → outcome counts), then
    each peer's totals and verdict from its report (`reports`: peer → report)."""
    peers = list(reports)
    lines = [
        f"| {label} | " + " | ".join(peers) + " |",
        "|---|" + "|".join("---" for _ in peers) + "|",
    ]
    for row, by_peer in counts.items():
        cells = [_counts_cell(by_peer.get(peer)) for peer in peers]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")

    def cells(show: Callable[[dict[str, Any]], str]) -> str:
        return " | ".join(report.get("error") or show(report) for report in reports.values())

    lines.append("| checks passing | " + cells(_check_score) + " |")
    lines.append("| **rules holding (weighted)** | " + cells(_weighted) + " |")
    lines.append("| deviations | " + cells(_deviation_counts) + " |")
    return lines


def _counts_cell(counts: dict[str, int] | None) -> str:
    if not counts:
        return "–"
    failed = counts.get("failed", 0) + counts.get("known", 0)
    mark = "✅" if not failed and counts.get("passed") else "❌" if failed else "⏭"
    return f"{mark} {counts.get('passed', 0)} / {failed} / {counts.get('skipped', 0)}"


def _area_counts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The main run's rows: the suite's own per-area counts, in display order."""
    peers = data["peers"]
    areas = [a for a in AREAS if any(a in p.get("matrix", {}) for p in peers.values())]
    return {a: {name: p.get("matrix", {}).get(a) for name, p in peers.items()} for a in areas}


def _module_counts(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Outcome counts per test module: the profile runs one area, so its modules are the rows."""
    rows: dict[str, dict[str, Counter[str]]] = {}
    for peer, report in reports.items():
        for result in report.get("results", []):
            module = result["test_id"].split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
            row = rows.setdefault(module.removeprefix("test_"), {})
            row.setdefault(peer, Counter())[result["outcome"]] += 1
    return rows


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


def _group_reports(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each peer's openresponses report; a peer without one shows why in its cells."""
    reports = {}
    for peer, report in data["peers"].items():
        group = report.get(OPENRESPONSES)
        reports[peer] = group or {"error": report.get("error") or "not run"}
    return reports


def _openresponses(data: dict[str, Any]) -> list[str]:
    """The profile's column group; nothing for results from before it existed."""
    if OPENRESPONSES not in data:
        return []
    lines = [
        "## Open Responses profile",
        "",
        "The responses area again (`compliance/test_responses*.py`), under "
        f"`--profile {OPENRESPONSES}`: [Open Responses](compliance.md#open-responses) on top of "
        "OpenAI's contract, on the same server process right after the run above. Cells and "
        "verdict as above; its deviations beyond the run above are listed with each peer's.",
        "",
    ]
    state = data[OPENRESPONSES]
    if not state.get("run"):
        return [*lines, f"Not run: {_cell(state.get('reason') or 'unknown', 300)}.", ""]
    reports = _group_reports(data)
    return [*lines, *_matrix(reports, _module_counts(reports), "module"), ""]


def _group_deviations(report: dict[str, Any]) -> list[str]:
    """The profile run's deviations that the main run did not already show."""
    group = report.get(OPENRESPONSES)
    if not group or group.get("error"):
        return []
    seen = {(d["rule"], d["cause"]) for d in report.get("deviations") or []}
    new = [d for d in group.get("deviations") or [] if (d["rule"], d["cause"]) not in seen]
    heading = f"Under `--profile {OPENRESPONSES}`, besides the above:"
    if not new:
        return [f"{heading} none.", ""]
    return [heading, "", *_deviations({"deviations": new})]


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
        "server and the servers people would otherwise run locally on the same library or put "
        "in front of it (listed below), on the same model. Regenerate with `make compat` "
        "(`python -m benchmarks.compat`); the raw data is "
        f"`benchmarks/results/{source}`. Generated: edit the generator, not this file.",
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
        *_matrix(data["peers"], _area_counts(data)),
        "",
        *_openresponses(data),
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
        out += [line for note in report.get("notes") or [] for line in (note, "")]
        if report.get("error"):
            out += [f"Not measured: {report['error']}", ""]
            continue
        out += _deviations(report)
        out += _group_deviations(report)
        out += _skips(report)
    return "\n".join(out).rstrip("\n") + "\n"
