"""``--report DIR``: ``summary.json`` and a self-contained ``report.html`` to look at a run.

The page carries Plotly's JavaScript and the data inline (no CDN: it opens offline and can be
mailed or archived as one file). Plotly comes with the ``load`` extra and is imported only here,
so a run without ``--report`` does not pay for it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ._charts import CHARTS
from ._summary import format_table, write_summary

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
.chart { margin: 1.5rem 0; }
"""


def figures_html(figures: list[Any]) -> list[str]:
    """Each figure as a <div>; the first carries Plotly's JavaScript inline for all of them."""
    parts = []
    for index, fig in enumerate(figures):
        parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=index == 0,  # True: inline, never a CDN
                div_id=f"chart-{index}",
                config={"responsive": True, "displaylogo": False},
            )
        )
    return parts


def page(title: str, heading: str, text: str, figures: list[Any]) -> str:
    charts = "\n".join(f'<div class="chart">{part}</div>' for part in figures_html(figures))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(heading)}</h1>"
        f'<pre id="summary">{html.escape(text)}</pre>{charts}</body></html>\n'
    )


def render(summary: dict[str, Any]) -> str:
    figures = [fig for chart in CHARTS if (fig := chart(summary)) is not None]
    shape = (summary.get("shape") or {}).get("name", "?")
    heading = f"Inferno load report: {summary.get('model') or '?'} at {summary.get('host') or '?'}"
    return page(f"Inferno load report ({shape})", heading, format_table(summary), figures)


def write_report(directory: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` and ``report.html`` into ``directory``; return the page's path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    write_summary(folder / "summary.json", summary)
    path = folder / "report.html"
    path.write_text(render(summary), encoding="utf-8")
    return path
