"""report.html in a real browser: headless Chromium lays out a report of a broken server, and the
matrix, the score and every failure with its reproduction command must be visible without
scrolling sideways, at a laptop's width and at a narrow one.

Regenerate the screenshot shown in docs/compliance.md with
`python tests/compliance/test_report_browser.py docs/images/report-broken-server.png`
(it starts a reference server, a broken proxy in front of it, and runs the suite).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _compliance_blind_spots import _no_refusal
from _compliance_catalogue import (
    _bad_usage,
    _drop_usage_chunk,
    _flat_error,
    _on_chat,
    _stream_map,
)
from _compliance_proxy import MutatingProxy, Mutation

from tests._headless_chromium import MISSING, browser, headless, measured

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1280, 720)


def _three_causes(path, req, status, obj):
    """Root causes in JSON answers: refusal missing, usage that does not add up, flat errors."""
    status, obj = _no_refusal(path, req, status, obj)
    if status >= 400:
        return _flat_error(status, obj)
    return _on_chat(_bad_usage)(path, req, status, obj)


# ... and a stream without its usage chunk, which breaks clients.
BROKEN = Mutation(json=_three_causes, events=_stream_map(_drop_usage_chunk))
SELECTION = (
    "test_chat_shape or test_temperature or test_error_row and (missing or top-p) "
    "or test_stream_include_usage"
)

# Measures the report inside an iframe of the given width and writes the findings as JSON.
HARNESS = """<!doctype html><html><body>
<iframe id=f src="{report}" style="width:{width}px;height:900px;border:0"></iframe>
<pre id=out>pending</pre>
<script>
window.addEventListener('load', () => {{
  const d = document.getElementById('f').contentDocument, root = d.documentElement;
  const right = el => Math.ceil(el.getBoundingClientRect().right);
  const shown = el => !!el && el.offsetParent !== null && right(el) <= root.clientWidth;
  const failures = [...d.querySelectorAll('.failure')].map(f => ({{
    id: f.querySelector('h3').textContent,
    shown: shown(f),
    reproduce: shown(f.querySelector('.reproduce')),
    command: (f.querySelector('.reproduce') || {{}}).textContent || '',
  }}));
  const wide = [...d.querySelectorAll('pre, table, code')]
    .filter(el => el.offsetParent !== null && (el.scrollWidth > el.clientWidth + 1 ||
                  right(el) > root.clientWidth))
    .map(el => el.tagName + ': ' + el.textContent.slice(0, 80));
  document.getElementById('out').textContent = JSON.stringify({{
    pageWidth: root.scrollWidth, viewport: root.clientWidth,
    matrix: shown(d.getElementById('matrix')), score: shown(d.getElementById('score')),
    scoreText: (d.getElementById('score') || {{}}).textContent || '',
    deviations: shown(d.getElementById('deviations')), failures, wide,
  }});
}});
</script></body></html>"""


def write_report(upstream: str, directory: Path) -> Path:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INFERNO_")}
    with MutatingProxy(upstream, BROKEN) as proxy:
        command = [
            sys.executable, "-m", "pytest", "compliance", "-q", "-p", "no:cacheprovider",
            "--base-url", proxy.base_url, "--preset", "extended", "--fuzz-examples", "0",
            "--report", str(directory), "-k", SELECTION,
        ]  # fmt: skip
        proc = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean, check=False
        )
    assert proc.returncode == 1, proc.stdout[-3000:]
    return directory / "report.html"


@pytest.fixture(scope="module")
def report(base_url: str) -> Iterator[Path]:
    if browser() is None:
        pytest.skip(MISSING)
    with tempfile.TemporaryDirectory(prefix="inferno-report-") as folder:
        yield write_report(base_url, Path(folder))


@pytest.mark.parametrize("width", WIDTHS)
def test_report_fits_the_window(report: Path, width: int, tmp_path: Path) -> None:
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS.format(report=report.as_uri(), width=width))
    proc = headless(
        "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom",
        harness.as_uri(),
    )  # fmt: skip
    found = measured(proc.stdout)
    data = json.loads((report.parent / "report.json").read_text())
    failed = [r["test_id"] for r in data["results"] if r["outcome"] == "failed"]
    assert failed and len(found["failures"]) == len(failed), (found, failed)
    assert found["pageWidth"] <= found["viewport"], f"the page scrolls sideways: {found}"
    assert found["matrix"] and found["score"] and found["deviations"], found
    assert "Rules holding" in found["scoreText"], found["scoreText"]
    assert not found["wide"], f"elements wider than the window: {found['wide']}"
    for failure in found["failures"]:
        assert failure["shown"] and failure["reproduce"], failure
        assert failure["command"].startswith(("curl", "pytest")), failure


def screenshot(html: Path, png: Path) -> None:
    """A picture of the top of the report (about 200 KB as Chromium writes it)."""
    proc = headless("--window-size=1100,1400", f"--screenshot={png}", html.as_uri())
    assert png.exists(), proc.stderr[-2000:]


if __name__ == "__main__":
    from inferno.launcher import reference_server_process

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images/report-broken-server.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        reference_server_process(["--model", "tiny"]) as server,
        tempfile.TemporaryDirectory(prefix="inferno-report-") as folder,
    ):
        screenshot(write_report(server.base_url, Path(folder)), target)
    print(f"{target}: {target.stat().st_size // 1024} KiB")
