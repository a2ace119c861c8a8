"""docs/reliability.md from a results JSON: the criteria with their verdicts, then the figures."""

from __future__ import annotations

from typing import Any

from . import _bad_config, _embed_beside
from ._markdown import cell

HEADER = """# Reliability

What the reference server and the harness promise under faults, measured on one machine by
`make reliability` (`python -m benchmarks.reliability`). This file is generated: rerun the
command to refresh it. Figures are measurements of one run on a shared machine, not guarantees.
"""


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        HEADER,
        f"- command: `{result['command']}` ({result['date']}, {result['duration_s'] / 60:.1f} min)",
        f"- machine: {machine['cores']} cores, {machine['cpu_model']}, "
        f"{machine['memory_gib']} GiB, {machine['system']}, Python {machine['python']}; "
        f"load average {_load(machine)}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}",
        *_carried_over(result.get("carried_over")),
        "",
        "| criterion | measured | verdict |",
        "|---|---|---|",
    ]
    for name, measured, ok in criteria(result):
        lines.append(f"| {name} | {measured} | {_verdict(ok)} |")
    for title, render in SECTIONS:
        section = result["sections"].get(title)
        if section is not None:
            lines += ["", f"## {title}", "", *render(section)]
    return "\n".join(lines) + "\n"


def _carried_over(carried: dict[str, Any] | None) -> list[str]:
    """The header line naming sections measured by an earlier run (`--merge`)."""
    if not carried:
        return []
    return [
        f"- carried over from the run of {carried['date']} (`{carried['command']}`, "
        f"`benchmarks/results/{carried['from']}`): {', '.join(carried['sections'])}; "
        "every other section was measured by the command above"
    ]


def _load(machine: dict[str, Any]) -> str:
    start = machine.get("load_average_at_start")
    end = machine.get("load_average_at_end")
    text = " / ".join(str(x) for x in start) if start else "?"
    return text + (f" at the start, {' / '.join(str(x) for x in end)} at the end" if end else "")


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("holds" if ok else "**does not hold**")


def criteria(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    s = result["sections"]
    rows: list[tuple[str, str, bool | None]] = []
    if (f := s.get("fuzz")) is not None:
        rows.append(
            (
                "1 fuzz: ≥ 2,000 cases over every operation; 0 5xx, 0 bodies outside the "
                "envelope, 0 schema violations",
                f"{f['cases']} cases, {len(f['operations'])} operations, seed {f['seed']}; "
                f"{f['server_errors']} 5xx, {f['outside_envelope']} outside the envelope, "
                f"{f['schema_violations']} schema violations, {sum(f['failures'].values())} "
                "check failures in all",
                f["cases"] >= result["plan"]["fuzz_cases"]
                and not f["server_errors"]
                and not f["failures"],
            )
        )
    if (k := s.get("soak")) is not None and "rss_growth_pct" in k:
        change = k["ttft_change_pct"]
        rows += [
            (
                "2 soak: RSS grows ≤ 5 % after warm-up",
                f"{k['rss_growth_pct']} % ({k['rss_after_warmup_mib']} → "
                f"{k['rss_max_after_warmup_mib']} MiB max)",
                k["rss_growth_pct"] <= 5.0,
            ),
            (
                "2 soak: TTFT p95 of the last window within 10 % of the first",
                f"{_ms(k['ttft_p95_first_s'])} → {_ms(k['ttft_p95_last_s'])} ({change} %)",
                change is not None and abs(change) <= 10.0,
            ),
            (
                "2 soak: 0 errors; /metrics adds up",
                f"{k['errors']} errors in {k['requests']} requests; "
                f"started = Σ outcomes: {k['accounting']['adds_up']}",
                not k["errors"] and k["accounting"]["adds_up"],
            ),
        ]
    if (t := s.get("storm")) is not None:
        no_5xx = t["vanishing_5xx"] + t["well_behaved_5xx"] + t["server_5xx"]
        rows += [
            (
                "3 storm: no 5xx; every well-behaved client complete or 429/503 + Retry-After",
                f"{no_5xx} 5xx; {t['well_behaved_complete']} complete + "
                f"{t['well_behaved_shed']} shed of {t['well_behaved']}",
                not no_5xx and not t["well_behaved_bad"],
            ),
            (
                "3 storm: idle within 1 s; next request served at once",
                f"idle after {_s(t['idle_after_s'])}; next: {t['next_request_status']} in "
                f"{_ms(t['next_request_s'])}",
                t["idle_after_s"] is not None
                and t["idle_after_s"] <= 1.0
                and t["next_request_status"] == 200,
            ),
            (
                "7 honest signals: vanished clients are cancelled (499), not 500",
                f"server counted {t['server_outcomes'].get('cancelled', 0):g} cancelled, "
                f"statuses {t['server_statuses']}",
                not t["server_5xx"] and t["server_outcomes"].get("cancelled", 0) > 0,
            ),
        ]
    if (o := s.get("overload")) is not None:
        rows.append(
            (
                f"4 overload: burst of {o['burst']} (10× the queue): only 200/429 + "
                "Retry-After; served streams end with [DONE]; a client that waits is served",
                f"{o['statuses']}; {o['served_complete']}/{o['served']} complete; "
                f"retries served {o['retries_served']}/{len(o['retries'])}",
                o["only_200_and_429"]
                and not o["shed_without_retry_after"]
                and o["served_complete"] == o["served"]
                and o["retries_served"] == len(o["retries"]),
            )
        )
    if (e := s.get("engine faults")) is not None:
        rows.append(
            (
                "5 engine faults (scripted test engine): a decode failure mid-stream is one error "
                "event, no [DONE], and the next request is served; a model that fails to load "
                "is /health 503 while the others serve; the engine thread dying loses no "
                "request, restarts, and exits the process non-zero once it dies too often",
                f"{sum(t['outcome'] == 'passed' for t in e['tests'])}/{len(e['tests'])} "
                f"checks pass; {_death_summary(e.get('death'))}",
                e["all_passed"] and bool(e.get("death_holds")),
            )
        )
    if (h := s.get("hostile servers")) is not None:
        rows.append(
            (
                f"6 hostile servers ({len(h['cases'])}): every run ends, each case reported, "
                "pytest ≤ 500 MB RSS",
                f"all ended: {h['all_ended']}; longest {h['longest_suite_s']} s; "
                f"peak RSS {h['max_rss_mib']} MiB",
                h["all_ended"] and h["max_rss_mib"] <= 500,
            )
        )
    if (b := s.get("bad configuration")) is not None:
        rows.append(_bad_config.criterion(b))
    if (m := s.get("embeddings beside streams")) is not None:
        rows.append(_embed_beside.criterion(m))
    return rows


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(seconds: float | None) -> str:
    return "never (within 60 s)" if seconds is None else f"{seconds:.3f} s"


def _fuzz(f: dict[str, Any]) -> list[str]:
    lines = [
        f"schemathesis, profile `{f['profile']}`, seed {f['seed']} (rerun: "
        f"`python -m benchmarks.reliability --only fuzz --seed {f['seed']}`).",
        "",
        "| operation | mode | cases | statuses | failures |",
        "|---|---|---|---|---|",
    ]
    for name, row in f["per_operation"].items():
        op, mode = name.split(" ")
        statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items()) or "-"
        cases = "no case can be generated" if not row["cases"] else row["cases"]
        failures = ", ".join(f"{k}: {v}" for k, v in row["failures"].items()) or "0"
        lines.append(f"| {op} | {mode} | {cases} | {statuses} | {failures} |")
    lines += [f"- {example}" for example in f["examples"]]
    return lines


def _soak(k: dict[str, Any]) -> list[str]:
    knee = k.get("knee", {})
    lines = [
        f"Knee from the sweep profile (`{knee.get('command', '?')}`): "
        f"{knee.get('knee_users')} concurrent users.",
        "",
        "| sweep users | requests | req/s | errors | shed | TTFT p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for step in knee.get("steps", []):
        lines.append(
            f"| {step['users']} | {step['requests']} | {step['requests_per_s']:.2f} | "
            f"{step['error_rate']:.1%} | {step['shed_rate']:.1%} | "
            f"{_num(step.get('ttft_ms_p95'))} |"
        )
    if "requests" not in k:
        return [*lines, "", "The sweep found no knee; the soak did not run."]
    lines += [
        "",
        f"Soak: {k['users']} closed-loop clients for {k['duration_s']:.0f} s, mix "
        + ", ".join(f"{n} {r['requests']}" for n, r in k["by_kind"].items())
        + f"; {k['requests']} requests, {k['errors']} errors, {k['shed']} shed. "
        f"Idle {_s(k['idle_after_s'])} after the end.",
        "",
        "Server RSS (MiB) at " + ", ".join(f"{t} s: {mib}" for t, mib in k["rss_samples_mib"]),
        "",
        f"TTFT p95 per {k['ttft_window_s']:g} s window: "
        + ", ".join(_ms(v) for v in k.get("ttft_p95_per_window_s", []))
        + "; the machine's 1-minute load average meanwhile: "
        + ", ".join(f"{t} s: {v}" for t, v in k.get("load_average_1m", [])[:: _every(k)]),
        "",
        "`/metrics` at the end, over the server's life (the sweep, then the soak):",
        "",
        _accounting_table(k["accounting"]),
    ]
    return lines + [f"- error: {e}" for e in k["error_examples"]]


def _every(soak: dict[str, Any]) -> int:
    """Samples per TTFT window, so that the load is shown once per window."""
    samples = soak.get("rss_samples_mib", [])
    step = samples[1][0] - samples[0][0] if len(samples) > 1 else 0
    return max(1, round(soak["ttft_window_s"] / step)) if step else 1


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _accounting_table(accounting: dict[str, Any]) -> str:
    rows = ["| route | started | completed | cancelled | shed | failed | adds up |"]
    rows.append("|---|---|---|---|---|---|---|")
    for route, r in accounting["routes"].items():
        rows.append(
            f"| {route} | {r['started']:g} | {r['completed']:g} | {r['cancelled']:g} | "
            f"{r['shed']:g} | {r['failed']:g} | {r['adds_up']} |"
        )
    return "\n".join(rows)


def _storm(t: dict[str, Any]) -> list[str]:
    return [
        f"{t['requests']} requests in {t['duration_s']} s, at most {t.get('in_flight', '?')} "
        f"at once: {sum(t['vanishing'].values())} clients vanished "
        f"({', '.join(f'{k} {v}' for k, v in t['vanishing'].items())}), "
        f"{t['well_behaved']} well-behaved.",
        f"What the vanishing clients had seen: {t['vanishing_saw']}.",
        f"Well-behaved: {t['well_behaved_complete']} complete, {t['well_behaved_shed']} shed, "
        f"{t['well_behaved_bad']} bad {t['bad_examples'] or ''}.",
        f"Server: statuses {t['server_statuses']}, outcomes {t['server_outcomes']}; idle "
        f"{_s(t['idle_after_s'])} after the storm; next request {t['next_request_status']} in "
        f"{_ms(t['next_request_s'])}.",
        "",
        _accounting_table(t["accounting"]),
    ]


def _overload(o: dict[str, Any]) -> list[str]:
    return [
        f"{o['burst']} streamed chats at once against a queue of {o['queue']}, "
        f"done in {o['duration_s']} s: {o['statuses']}. Retry-After values: "
        f"{o['retry_after_values']} s. Served streams complete: "
        f"{o['served_complete']}/{o['served']}.",
        "Shed clients that waited as told and retried: "
        + "; ".join(f"waited {r['waited_s']:g} s → {r['status']}" for r in o["retries"])
        + ".",
    ]


def _engine(e: dict[str, Any]) -> list[str]:
    lines = [
        f"`{e['command']}` ({e['seconds']:g} s): the fault-injection tests of the reference "
        "server, real server processes whose engine runs over the scripted test backend.",
        "",
        "| check | outcome |",
        "|---|---|",
    ]
    lines += [f"| `{t['test']}` | {t['outcome']} |" for t in e["tests"]]
    if e["output_tail"]:
        lines += ["", "```", e["output_tail"].strip(), "```"]
    return [*lines, "", *_death(e.get("death"))]


def _death_summary(d: dict[str, Any] | None) -> str:
    if not d:
        return "engine death not measured"
    if d.get("error"):
        return f"engine death not measured: {d['error']}"
    return (
        f"engine death: {d['lost']} lost, all answered {d['fault_to_all_answered_s']:g} s "
        f"after the fault, {d['restarts']:g} restart"
    )


def _death(d: dict[str, Any] | None) -> list[str]:
    """The engine thread failing on purpose (`CRASH_ENGINE`), measured (`_engine_death.py`)."""
    if not d or d.get("error"):
        return [f"Engine death: {_death_summary(d)}."]
    g = d["give_up"]
    return [
        f"Engine death: the engine thread failed with {d['held_at_fault']} of {d['requests']} "
        f"requests held or queued; answers {d['answers']}, {d['lost']} lost, "
        f"{d['not_in_envelope']} errors outside the envelope. Everything was answered "
        f"{d['fault_to_all_answered_s']:g} s after the fault; /health was ready again within "
        f"{d['fault_to_ready_s']:g} s (looked at after the answers), after {d['restarts']:g} "
        f"restart; sequences freed: {d['freed']}; the next request: "
        f"{d['next_request_status']}.",
        f"Failing again and again: {g['failures']} failures in all, answers {g['statuses']}, "
        f"then the process exited with code {g['exit_code']} (expected "
        f"{g['expected_exit_code']}) {g['last_fault_to_exit_s']} s after the last one.",
    ]


def _hostile(h: dict[str, Any]) -> list[str]:
    lines = [
        f"`pytest compliance --preset {h['preset']} --request-timeout "
        f"{h['request_timeout_s']:g}` (the suite as users run it, fuzzing and the openai SDK "
        "tests included) against each server (in parallel, "
        "four at a time); what the suite's client reports for one plain and one streamed "
        "chat request; peak RSS of each pytest process from wait4().",
        "",
        "| server | plain request | streamed request | suite | time | peak RSS | rules "
        "reported most |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in h["cases"]:
        rules = ", ".join(f"{k} ×{v}" for k, v in c["suite_rules"].items())
        lines.append(
            f"| {c['case']}: {c['what']} | {cell(c['plain'])} ({c['plain_s']} s) | "
            f"{cell(c['stream'])} ({c['stream_s']} s) | {cell(c['suite_summary'])} | "
            f"{c['suite_s']} s | {c['suite_max_rss_mib']} MiB | {rules} |"
        )
    return lines


SECTIONS = (
    ("fuzz", _fuzz),
    ("soak", _soak),
    ("storm", _storm),
    ("overload", _overload),
    ("engine faults", _engine),
    ("hostile servers", _hostile),
    ("bad configuration", _bad_config.markdown),
    ("embeddings beside streams", _embed_beside.markdown),
)
