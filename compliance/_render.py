"""Render report data as Markdown and as a self-contained HTML page (no external assets)."""

from __future__ import annotations

import html as _html
from typing import Any


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    lines = [
        "# Inferno compliance report",
        "",
        f"- Server: `{data['server'].get('base_url')}`; models: "
        f"{', '.join(map(str, data['server'].get('models') or [])) or '-'}",
        f"- Preset `{s['preset']}`, profile `{s['profile']}`, run {data['started']} UTC, "
        f"{data['duration_s']} s",
        f"- Score: **{data['score'] if data['score'] is not None else '-'}%** of applicable checks",
        "",
        "| area | passed | failed | skipped | known |",
        "|---|---:|---:|---:|---:|",
    ]
    for area, row in data["matrix"].items():
        lines.append(
            f"| {area} | {row['passed']} | {row['failed']} | {row['skipped']} | {row['known']} |"
        )
    for test_id in data["fixed_baseline_entries"]:
        lines.append(f"\n- fixed, remove from baseline: `{test_id}`")
    failures = [r for r in data["results"] if r["outcome"] in ("failed", "known")]
    if failures:
        lines += ["", "## Failures", ""]
    for r in failures:
        d = r["details"]
        lines += [
            f"### `{r['test_id']}`" + (" (known, baseline)" if r["outcome"] == "known" else "")
        ]
        if d.get("rule"):
            lines.append(f"- Rule: `{d['rule']}`")
        if d.get("request"):
            lines.append(f"- Request: `{d['request']}`")
        lines += ["", "```", (d.get("message") or r["reason"]).strip(), "```"]
        if d.get("response"):
            lines += ["", f"Response ({d.get('status')}):", "", "```", d["response"], "```"]
        if d.get("curl"):
            lines += ["", "Reproduce:", "", "```sh", d["curl"], "```"]
        lines.append("")
    skipped = [r for r in data["results"] if r["outcome"] == "skipped"]
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- `{r['test_id']}`: {r['reason']}" for r in skipped]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}.passed{color:#176617}.failed{color:#b00020}
.skipped{color:#777}.known{color:#a06000}pre{background:#f6f6f6;padding:.6rem;overflow:auto;
white-space:pre-wrap}details{margin:.4rem 0}summary{cursor:pointer}
"""


def html(data: dict[str, Any]) -> str:
    e = _html.escape
    s = data["settings"]
    rows = "".join(
        f"<tr><td>{e(area)}</td><td class=passed>{row['passed']}</td>"
        f"<td class=failed>{row['failed']}</td><td class=skipped>{row['skipped']}</td>"
        f"<td class=known>{row['known']}</td></tr>"
        for area, row in data["matrix"].items()
    )
    items = []
    for r in data["results"]:
        d = r["details"]
        body = ""
        if r["outcome"] in ("failed", "known"):
            parts = [
                f"<p>Rule: <code>{e(str(d.get('rule', '-')))}</code></p>",
                f"<pre>{e((d.get('message') or r['reason']).strip())}</pre>",
            ]
            if d.get("request"):
                parts.append(f"<p>Request: <code>{e(d['request'])}</code></p>")
                if d.get("request_body"):
                    parts.append(f"<pre>{e(d['request_body'])}</pre>")
            if d.get("response"):
                parts.append(f"<p>Response ({e(str(d.get('status')))}):</p>")
                parts.append(f"<pre>{e(d['response'])}</pre>")
            if d.get("curl"):
                parts.append(f"<p>Reproduce:</p><pre>{e(d['curl'])}</pre>")
            body = "".join(parts)
        elif r["reason"]:
            body = f"<p>{e(r['reason'])}</p>"
        items.append(
            f"<details><summary class={e(r['outcome'])}>{e(r['outcome'])}: "
            f"<code>{e(r['test_id'])}</code></summary>{body}</details>"
        )
    fixed = "".join(
        f"<li>fixed, remove from baseline: <code>{e(t)}</code></li>"
        for t in data["fixed_baseline_entries"]
    )
    score = data["score"] if data["score"] is not None else "-"
    models = ", ".join(map(str, data["server"].get("models") or [])) or "-"
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Inferno compliance report</title>"
        f"<style>{_CSS}</style></head><body><h1>Inferno compliance report</h1>"
        f"<p>Server <code>{e(str(data['server'].get('base_url')))}</code>, models {e(models)}; "
        f"preset <b>{e(s['preset'])}</b>, profile <b>{e(s['profile'])}</b>; "
        f"{e(data['started'])} UTC, {data['duration_s']} s.</p>"
        f"<h2>Score: {score}%</h2><table><tr><th>area</th><th>passed</th><th>failed</th>"
        f"<th>skipped</th><th>known</th></tr>{rows}</table><ul>{fixed}</ul>"
        f"<h2>Results</h2>{''.join(items)}</body></html>\n"
    )
