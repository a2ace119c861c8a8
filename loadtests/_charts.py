"""The report's charts, drawn with Plotly from a summary (``--summary``'s JSON, as written).

Each function returns a figure, or None when the run has nothing to show for it. SLO lines come
from ``--slo``: gates on a percentile (``ttft_p95_ms``) and per-request objectives (``ttft_ms``)
are both drawn where that latency is.
"""

from __future__ import annotations

import re
from typing import Any

LATENCIES = (("ttft_ms", "TTFT"), ("itl_ms", "ITL (per gap)"), ("tpot_ms", "TPOT (per request)"),
             ("e2e_ms", "E2E"))  # fmt: skip
_GATE = re.compile(r"^(ttft|itl|tpot|e2e)_(p50|p90|p95|p99|mean|max)_ms$")
SLO_COLOUR = "#d62728"


def slo_lines(summary: dict[str, Any], metric: str) -> list[tuple[str, float]]:
    """(label, ms) of every objective of --slo on ``metric`` (e.g. ``ttft_ms``)."""
    objectives = (summary.get("slo") or {}).get("objectives") or {}
    objectives = {**objectives, **((summary.get("goodput") or {}).get("objectives") or {})}
    lines = []
    for key, limit in objectives.items():
        gate = _GATE.match(key)
        if key == metric:
            lines.append((f"{key}={limit:g} (per request)", float(limit)))
        elif gate and f"{gate.group(1)}_ms" == metric:
            lines.append((f"{key}={limit:g}", float(limit)))
    return lines


def _layout(fig: Any, title: str, height: int = 420) -> Any:
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.18},
    )
    return fig


def distributions(summary: dict[str, Any]) -> Any:
    """Histograms of TTFT, ITL, TPOT and E2E with their SLO lines."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    kept = summary.get("samples") or {}
    shown = [(m, label) for m, label in LATENCIES if kept.get(m)]
    if not shown:
        return None
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=[f"{x} ms" for _, x in shown])
    for col, (metric, label) in enumerate(shown, 1):
        fig.add_trace(go.Histogram(x=kept[metric], name=label, nbinsx=50), row=1, col=col)
        for index, (text, limit) in enumerate(slo_lines(summary, metric)):
            where = ("top right", "bottom right")[index % 2]  # two lines' labels must not collide
            fig.add_vline(x=limit, line={"color": SLO_COLOUR, "dash": "dash"}, row=1, col=col,
                          annotation_text=text, annotation_font_color=SLO_COLOUR,
                          annotation_position=where)  # fmt: skip
    fig.update_layout(showlegend=False)
    return _layout(fig, "Latency distributions (a uniform sample of the raw values)", 380)


def stages(summary: dict[str, Any]) -> list[tuple[float, str]]:
    """(second, label) where the shape changed level, and where the load ended."""
    shape = summary.get("shape") or {}
    step_time = shape.get("step_time_s")
    marks = []
    for index, step in enumerate(shape.get("steps") or ()):
        if step_time:
            level = f"{step['rate']:g} req/s" if "rate" in step else f"{step.get('users')} users"
            marks.append((index * float(step_time), level))
    end = (summary.get("timeline") or {}).get("end_of_load_s")
    if end is not None:
        marks.append((float(end), "end of load"))
    return marks


def over_time(summary: dict[str, Any]) -> Any:
    """Output tokens/s, requests/s and mean TTFT per second, with the stages and SLO lines."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    timeline = summary.get("timeline") or {}
    seconds = timeline.get("seconds") or []
    if not seconds:
        return None
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        specs=[[{"secondary_y": True}], [{}]],
                        subplot_titles=["Throughput", "TTFT (mean of each second)"])  # fmt: skip
    fig.add_trace(go.Scatter(x=seconds, y=timeline["output_tokens_per_s"], name="output tok/s",
                             mode="lines"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=seconds, y=timeline["requests_per_s"], name="requests/s",
                             mode="lines", line={"dash": "dot"}), row=1, col=1,
                  secondary_y=True)  # fmt: skip
    fig.add_trace(go.Scatter(x=seconds, y=timeline["ttft_mean_ms"], name="TTFT ms",
                             mode="lines+markers", connectgaps=False), row=2, col=1)  # fmt: skip
    for at, label in stages(summary):
        fig.add_vline(x=at, line={"color": "#888", "dash": "dot"}, annotation_text=label,
                      annotation_textangle=-90, annotation_position="top left")  # fmt: skip
    for text, limit in slo_lines(summary, "ttft_ms"):
        fig.add_hline(y=limit, line={"color": SLO_COLOUR, "dash": "dash"}, row=2, col=1,
                      annotation_text=text, annotation_font_color=SLO_COLOUR)  # fmt: skip
    fig.update_xaxes(title_text="seconds since the start", row=2, col=1)
    fig.update_yaxes(title_text="tok/s", row=1, col=1)
    fig.update_yaxes(title_text="req/s", row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="ms", row=2, col=1)
    return _layout(fig, "Over time (per second; dotted lines: the shape's stages)", 560)


def sweep_curve(summary: dict[str, Any]) -> Any:
    """Rate sweep: goodput against offered rate, the knee marked (sweep: tok/s against users)."""
    from plotly import graph_objects as go

    shape = summary.get("shape") or {}
    steps = shape.get("steps") or []
    if not steps:
        return None
    fig = go.Figure()
    if shape.get("name") == "rate-sweep":
        rates = [s["rate"] for s in steps]
        fig.add_trace(go.Scatter(x=rates, y=[s["goodput_rps"] for s in steps],
                                 mode="lines+markers", name="goodput req/s"))  # fmt: skip
        fig.add_trace(go.Scatter(x=rates, y=rates, mode="lines", name="offered",
                                 line={"dash": "dot", "color": "#888"}))  # fmt: skip
        best, x_key, y_key = shape.get("knee"), "rate", "goodput_rps"
        fig.update_xaxes(title_text="offered rate, req/s")
        fig.update_yaxes(title_text="good req/s")
        title, label = "Rate sweep: goodput against offered rate", "knee"
    else:
        fig.add_trace(go.Scatter(x=[s["users"] for s in steps],
                                 y=[s["output_tokens_per_s"] for s in steps],
                                 mode="lines+markers", name="output tok/s"))  # fmt: skip
        best, x_key, y_key = shape.get("saturation"), "users", "output_tokens_per_s"
        fig.update_xaxes(title_text="users")
        fig.update_yaxes(title_text="output tok/s")
        title, label = "Concurrency sweep: throughput against users", "saturation"
    failed = [s for s in steps if not s["passed"]]
    if failed:
        marker = {"symbol": "x", "size": 12, "color": SLO_COLOUR}
        why = ["; ".join(s["violations"]) for s in failed]
        fig.add_trace(go.Scatter(x=[s[x_key] for s in failed], y=[s[y_key] for s in failed],
                                 mode="markers", name="failed step", text=why,
                                 marker=marker))  # fmt: skip
    if best:
        fig.add_trace(go.Scatter(x=[best[x_key]], y=[best[y_key]], mode="markers+text",
                                 name=label, text=[label], textposition="top center",
                                 marker={"symbol": "star", "size": 16}))  # fmt: skip
    return _layout(fig, title)


def turns(summary: dict[str, Any]) -> Any:
    """Conversations: TTFT by turn and cached prompt tokens by turn."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    by_turn = summary.get("turns") or {}
    if not by_turn:
        return None
    numbers = list(by_turn)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["TTFT by turn, ms",
                                                        "prompt tokens by turn"])  # fmt: skip
    for stat in ("p50", "p95"):
        values = [by_turn[n]["ttft_ms"].get(stat) for n in numbers]
        fig.add_trace(go.Bar(x=numbers, y=values, name=f"TTFT {stat}"), row=1, col=1)
    fig.add_trace(go.Bar(x=numbers, y=[by_turn[n]["prompt_tokens_per_request"] for n in numbers],
                         name="prompt tokens/request"), row=1, col=2)  # fmt: skip
    cached = [by_turn[n]["cached_tokens_per_request"] for n in numbers]
    if any(c is not None for c in cached):
        fig.add_trace(go.Bar(x=numbers, y=cached, name="cached tokens/request"), row=1, col=2)
    for text, limit in slo_lines(summary, "ttft_ms"):
        fig.add_hline(y=limit, line={"color": SLO_COLOUR, "dash": "dash"}, row=1, col=1,
                      annotation_text=text, annotation_font_color=SLO_COLOUR)  # fmt: skip
    fig.update_xaxes(title_text="turn")
    return _layout(fig, "Conversations: by turn")


CHARTS = (distributions, over_time, sweep_curve, turns)
