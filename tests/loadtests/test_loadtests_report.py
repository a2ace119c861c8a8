"""`--report DIR`: the page is self-contained and shows what the run had (fixed summaries), a
real run writes it, and headless Chromium draws every chart without scrolling sideways."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from locust_runner import run_locust
from sse_fixture import FixtureServer

from loadtests._charts import slo_lines, stages
from loadtests._report import render, write_report
from tests._headless_chromium import headless, measured


def sample_summary() -> dict[str, Any]:
    """A rate sweep of conversations with objectives: every chart has something to show."""
    steps = [
        {"rate": r, "passed": r < 8, "violations": [] if r < 8 else ["goodput stopped growing"],
         "goodput_rps": min(r, 6.5), "users": None, "output_tokens_per_s": 30 * r,
         "sent_per_s": r, "goodput_output_tokens_per_s": 30 * min(r, 6.5), "loss_rate": 0.0,
         "ttft_ms_p95": 200.0 * r}
        for r in (2, 4, 6, 8)
    ]  # fmt: skip
    metric = {"count": 3, "mean": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0}
    return {
        "duration_s": 40.0,
        "model": "fixture",
        "host": "http://127.0.0.1:1",
        "requests": {"ok": 3, "errors": 0, "shed": 0, "error_rate": 0.0, "shed_rate": 0.0},
        "throughput": {"requests_per_s": 1.0, "output_tokens_per_s": 9.0, "prompt_tokens_per_s": 1},
        "metrics": {m: metric for m in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")},
        "goodput": {
            "requests": 3,
            "requests_per_s": 1.0,
            "output_tokens_per_s": 9.0,
            "ratio": 1.0,
            "objectives": {"ttft_ms": 400.0},
        },
        "cache": {"responses_reporting": 0},
        "shape": {
            "name": "rate-sweep",
            "steps": steps,
            "knee": steps[2],
            "step_time_s": 10.0,
            "stopped_by": "goodput stopped growing",
        },
        "slo": {"objectives": {"ttft_p95_ms": 500.0}, "passed": True, "violations": []},
        "turns": {
            "1": {
                "requests": 2,
                "ttft_ms": {"p50": 200.0, "p95": 250.0},
                "prompt_tokens_per_request": 20.0,
                "cached_tokens_per_request": 0.0,
            },
            "2": {
                "requests": 2,
                "ttft_ms": {"p50": 210.0, "p95": 260.0},
                "prompt_tokens_per_request": 40.0,
                "cached_tokens_per_request": 18.0,
            },
        },
        "timeline": {
            "bucket_s": 1.0,
            "seconds": [0, 1, 2],
            "requests_per_s": [1, 2, 2],
            "output_tokens_per_s": [0, 30, 32],
            "ttft_mean_ms": [None, 210.0, 220.0],
            "errors": [0, 0, 0],
            "end_of_load_s": 40.0,
        },
        "samples": {
            "ttft_ms": [200.0, 210.0, 260.0],
            "itl_ms": [20.0, 21.0],
            "tpot_ms": [20.5],
            "e2e_ms": [400.0, 420.0],
        },
    }


def test_the_page_carries_plotly_and_its_data_inline() -> None:
    page = render(sample_summary())
    assert not re.search(r"<script[^>]+src=", page), "a script is loaded from elsewhere"
    assert "<link" not in page  # no stylesheet from elsewhere either
    assert page.count('class="chart"') == 4  # distributions, over time, sweep curve, turns
    assert "Plotly.newPlot" in page and "knee" in page
    assert "ttft_p95_ms=500" in page and "ttft_ms=400 (per request)" in page
    assert "Inferno summary - shape rate-sweep" in page  # the text table comes first


def test_a_plain_run_leaves_out_the_charts_it_has_no_data_for() -> None:
    summary = sample_summary()
    summary["shape"] = {"name": "constant"}
    del summary["turns"]
    assert render(summary).count('class="chart"') == 2


def test_slo_lines_and_stages_come_from_the_summary() -> None:
    summary = sample_summary()
    assert slo_lines(summary, "ttft_ms") == [
        ("ttft_p95_ms=500", 500.0),
        ("ttft_ms=400 (per request)", 400.0),
    ]
    assert slo_lines(summary, "itl_ms") == []
    assert stages(summary) == [
        (0.0, "2 req/s"), (10.0, "4 req/s"), (20.0, "6 req/s"), (30.0, "8 req/s"),
        (40.0, "end of load"),
    ]  # fmt: skip


# Counts the charts Plotly drew and measures the page, inside an iframe of the given width.
HARNESS = """<!doctype html><html><body>
<iframe id=f src="{report}" style="width:{width}px;height:900px;border:0"></iframe>
<pre id=out>pending</pre>
<script>
window.addEventListener('load', () => {{
  const d = document.getElementById('f').contentDocument, root = d.documentElement;
  document.getElementById('out').textContent = JSON.stringify({{
    charts: d.querySelectorAll('.chart').length,
    drawn: d.querySelectorAll('.chart .js-plotly-plot .main-svg').length > 0
      ? [...d.querySelectorAll('.chart')].filter(c => c.querySelector('.main-svg')).length : 0,
    pageWidth: root.scrollWidth, viewport: root.clientWidth,
  }});
}});
</script></body></html>"""


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 720])
def test_chromium_draws_every_chart(tmp_path: Path, width: int) -> None:
    report = write_report(tmp_path / "report", sample_summary())
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS.format(report=report.as_uri(), width=width))
    proc = headless(
        "--allow-file-access-from-files", "--virtual-time-budget=8000", "--dump-dom",
        harness.as_uri(),
    )  # fmt: skip
    found = measured(proc.stdout)
    assert found["charts"] == 4 and found["drawn"] == 4, found
    assert found["pageWidth"] <= found["viewport"], f"the page scrolls sideways: {found}"


@pytest.mark.slow
def test_a_run_writes_the_report(fixture_server: FixtureServer, prompts, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    run = run_locust(
        fixture_server.base_url, "StreamingChatUser", "-u", "3", "-r", "3", "-t", "4",
        "--prompts", prompts("delay"), "--report", str(folder), "--slo", "ttft_p95_ms=1000",
        summary=tmp_path / "s.json",
        timeout=180.0,  # drawing the report imports Plotly: slow on a busy machine
    )  # fmt: skip
    assert run.returncode == 0, run.output[-2000:]
    written = json.loads((folder / "summary.json").read_text())
    assert written["requests"] == run.summary["requests"]
    assert written["timeline"]["seconds"] and written["timeline"]["end_of_load_s"] > 3.0
    assert 0 < len(written["samples"]["itl_ms"]) <= 2000
    window = written["window"]
    # Three users stopped in mid-stream: their shares are in the window, not lost.
    assert window["cut_off_at_end"] + window["drained_after_end"] >= 1
    assert window["requests"] > written["requests"]["ok"] - 3
    page = (folder / "report.html").read_text()
    assert page.count('class="chart"') == 2 and "ttft_p95_ms=1000" in page
