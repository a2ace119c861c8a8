"""Render report data as Markdown and as a self-contained HTML page (no external assets).

Both lead with the verdict by root cause: the severity-weighted score beside the raw check
counts, then one row per deviation (the checks it broke, the clients it breaks), then every
failure with its rule, request, response and reproduction command.
"""

from __future__ import annotations

import html as _html
from typing import Any

SEVERITY_NOTE = "breaks-clients ×3, contract ×2, strict ×1"


def _summary_line(data: dict[str, Any]) -> str:
    s = data.get("summary") or {}
    by = s.get("deviations_by_severity") or {}
    found = ", ".join(f"{n} {sev}" for sev, n in by.items() if n) or "none"
    return (
        f"Rules holding: {_pct(s.get('weighted_score'))} (weighted: {SEVERITY_NOTE}) · "
        f"checks: {s.get('checks_passed', 0)}/{s.get('checks_applicable', 0)} pass "
        f"({_pct(s.get('check_score'))}) · deviations: {s.get('deviations', 0)} ({found})"
    )


def _pct(value: object) -> str:
    return "-" if value is None else f"{value}%"


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    lines = ["# Inferno compliance report", ""]
    lines += [f"> **{notice}**\n" for notice in data.get("notices") or []]
    lines += [
        f"- Server: `{data['server'].get('base_url')}`; models: "
        f"{', '.join(map(str, data['server'].get('models') or [])) or '-'}",
        f"- Preset `{s['preset']}`, profile `{s['profile']}`, run {data['started']} UTC, "
        f"{data['duration_s']} s",
        f"- {_summary_line(data)}",
        "",
        "| area | passed | failed | skipped | known | inconclusive |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for area, row in data["matrix"].items():
        lines.append(
            f"| {area} | {row['passed']} | {row['failed']} | {row['skipped']} | {row['known']} "
            f"| {row.get('inconclusive', 0)} |"
        )
    for test_id in data["fixed_baseline_entries"]:
        lines.append(f"\n- fixed, remove from baseline: `{test_id}`")
    deviations = data.get("deviations") or []
    if deviations:
        lines += ["", "## Deviations (one row per root cause)", ""]
        lines += ["| severity | rule | cause | checks broken | clients it breaks |"]
        lines += ["|---|---|---|---|---|"]
        for d in deviations:
            checks = ", ".join(f"`{c}`" for c in d["checks"])
            cells = [d["severity"], f"`{d['rule']}`", _cell(_cause(d)), checks]
            lines.append("| " + " | ".join([*cells, ", ".join(d["clients"]) or "–"]) + " |")
    failures = [r for r in data["results"] if r["outcome"] in ("failed", "known")]
    if failures:
        lines += ["", "## Failures", ""]
    for r in failures:
        d = r["details"]
        lines += [
            f"### `{r['test_id']}`" + (" (known, baseline)" if r["outcome"] == "known" else "")
        ]
        if d.get("rule"):
            lines.append(f"- Rule: `{d['rule']}` ({d.get('severity', '-')})")
        if d.get("request"):
            lines.append(f"- Request: `{d['request']}`")
        lines += ["", "```", (d.get("message") or r["reason"]).strip(), "```"]
        if d.get("response"):
            lines += ["", f"Response ({d.get('status')}):", "", "```", d["response"], "```"]
        if r.get("reproduce"):
            lines += ["", "Reproduce:", "", "```sh", r["reproduce"], "```"]
        lines.append("")
    for outcome, title in (("inconclusive", "Inconclusive (shed load)"), ("skipped", "Skipped")):
        chosen = [r for r in data["results"] if r["outcome"] == outcome]
        if chosen:
            lines += ["", f"## {title}", ""]
            lines += [f"- `{r['test_id']}`: {r['reason']}" for r in chosen]
    unreached = data.get("unreached") or []
    if unreached:
        lines += ["", "## Rules not reached", "", "| rule | severity | why |", "|---|---|---|"]
        lines += [f"| `{u['rule']}` | {u['severity']} | {_cell(u['why'])} |" for u in unreached]
    return "\n".join(lines) + "\n"


def _cause(deviation: dict[str, Any]) -> str:
    """The cause, or what the first failure said where the cause is the rule itself."""
    if deviation["cause"] == deviation["rule"]:
        return deviation.get("message") or deviation["cause"]
    return deviation["cause"]


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


# Long ids, URLs and commands wrap instead of widening the page: nothing scrolls sideways.
_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#222;
overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.6rem 0;max-width:100%}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{overflow-wrap:normal}
.num{text-align:right}.passed{color:#176617}.failed{color:#b00020}.skipped{color:#777}
.known{color:#a06000}.sev-breaks-clients{color:#fff;background:#b00020}
.sev-contract{background:#ffe3b3}.sev-strict{background:#e4e4f7}
.badge{padding:.05rem .4rem;border-radius:.3rem;font-size:.85em;white-space:nowrap}
pre{background:#f6f6f6;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0}
code{overflow-wrap:anywhere}.failure{border-left:4px solid #b00020;padding:.2rem .8rem;
margin:1rem 0}.score{font-size:1.3rem}details{margin:.3rem 0}summary{cursor:pointer}
.notice{border-left:4px solid #b00020;padding:.3rem .8rem}
"""


def html(data: dict[str, Any]) -> str:
    e = _html.escape
    s = data["settings"]
    rows = "".join(
        f"<tr><td>{e(area)}</td><td class='num passed'>{row['passed']}</td>"
        f"<td class='num failed'>{row['failed']}</td><td class='num skipped'>{row['skipped']}</td>"
        f"<td class='num known'>{row['known']}</td>"
        f"<td class='num skipped'>{row.get('inconclusive', 0)}</td></tr>"
        for area, row in data["matrix"].items()
    )
    notices = "".join(f"<p class=notice><b>{e(n)}</b></p>" for n in data.get("notices") or [])
    unreached = "".join(
        f"<tr><td><code>{e(u['rule'])}</code></td><td>{e(u['severity'])}</td>"
        f"<td>{e(u['why'])}</td></tr>"
        for u in data.get("unreached") or []
    )
    if unreached:
        unreached = (
            f"<details id=unreached><summary>Rules not reached ({len(data['unreached'])})"
            f"</summary><table><tr><th>rule</th><th>severity</th><th>why</th></tr>{unreached}"
            "</table></details>"
        )
    deviations = "".join(
        f"<tr><td><span class='badge sev-{e(d['severity'])}'>{e(d['severity'])}</span></td>"
        f"<td><code>{e(d['rule'])}</code><br><small>{e(d['reason'])}</small></td>"
        f"<td>{e(_cause(d))}</td>"
        f"<td>{'<br>'.join(f'<code>{e(c)}</code>' for c in d['checks'])}</td>"
        f"<td>{e(', '.join(d['clients']) or '–')}</td></tr>"
        for d in data.get("deviations") or []
    )
    if deviations:
        deviations = (
            "<h2>Deviations (one row per root cause)</h2><table id=deviations><tr>"
            "<th>severity</th><th>rule</th><th>cause</th><th>checks broken</th>"
            f"<th>clients it breaks</th></tr>{deviations}</table>"
        )
    failures, others = [], []
    for r in data["results"]:
        if r["outcome"] in ("failed", "known"):
            failures.append(_failure_html(r))
        else:
            reason = f": {e(r['reason'])}" if r["reason"] else ""
            others.append(f"<li class={e(r['outcome'])}>{e(r['outcome'])} <code>"
                          f"{e(r['test_id'])}</code>{reason}</li>")  # fmt: skip
    fixed = "".join(
        f"<li>fixed, remove from baseline: <code>{e(t)}</code></li>"
        for t in data["fixed_baseline_entries"]
    )
    models = ", ".join(map(str, data["server"].get("models") or [])) or "-"
    failure_block = f"<h2>Failures</h2>{''.join(failures)}" if failures else ""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Inferno compliance report</title><style>{_CSS}</style></head><body>"
        f"<h1>Inferno compliance report</h1>{notices}"
        f"<p>Server <code>{e(str(data['server'].get('base_url')))}</code>, models {e(models)}; "
        f"preset <b>{e(s['preset'])}</b>, profile <b>{e(s['profile'])}</b>; "
        f"{e(data['started'])} UTC, {data['duration_s']} s.</p>"
        f"<p class=score id=score>{e(_summary_line(data))}</p>"
        "<table id=matrix><tr><th>area</th><th>passed</th><th>failed</th>"
        f"<th>skipped</th><th>known</th><th>inconclusive</th></tr>{rows}</table><ul>{fixed}</ul>"
        f"{deviations}{failure_block}{unreached}"
        f"<details><summary>Other results ({len(others)})</summary><ul>{''.join(others)}</ul>"
        "</details></body></html>\n"
    )


def _failure_html(r: dict[str, Any]) -> str:
    e = _html.escape
    d = r["details"]
    known = " (known, baseline)" if r["outcome"] == "known" else ""
    parts = [
        f"<div class=failure><h3><code>{e(r['test_id'])}</code>{known}</h3>",
        f"<p>Rule <code>{e(str(d.get('rule', '-')))}</code> ({e(str(d.get('severity', '-')))})</p>",
        f"<pre>{e((d.get('message') or r['reason']).strip())}</pre>",
    ]
    if d.get("request"):
        parts.append(f"<p>Request: <code>{e(d['request'])}</code></p>")
    if d.get("response"):
        parts.append(f"<details><summary>Response ({e(str(d.get('status')))})</summary>")
        parts.append(f"<pre>{e(d['response'])}</pre></details>")
    if r.get("reproduce"):
        parts.append(f"<p>Reproduce:</p><pre class=reproduce>{e(r['reproduce'])}</pre>")
    return "".join(parts) + "</div>"
