"""Headless Chromium for the tests that look at a report as a person would."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
MISSING = "headless Chromium not found (Debian: apt-get install chromium)"


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def headless(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs Chromium headless with `args`; skips the test where there is none."""
    found = browser()
    if found is None:
        pytest.skip(MISSING)
    command = [found, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def measured(dom: str) -> dict:
    """The JSON a test harness page wrote into its `<pre id="out">`, from a `--dump-dom`."""
    out = dom.split('<pre id="out">', 1)[-1].split("</pre>", 1)[0]
    return json.loads(out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
