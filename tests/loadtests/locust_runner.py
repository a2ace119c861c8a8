"""Run ``locust -f loadtests`` headless in a subprocess and collect its JSON summary.

Locust monkey-patches the standard library with gevent when imported, so it never runs inside the
test process; every run is a bounded subprocess (``-t`` plus a hard timeout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOADTESTS = REPO / "loadtests"


@dataclass
class LocustRun:
    returncode: int
    output: str
    summary: dict[str, Any]


def run_locust(
    host: str, *args: str, summary: Path, timeout: float = 60.0, env: dict[str, str] | None = None
) -> LocustRun:
    """Run the profiles headless against ``host``; return exit code, output and summary."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOADTESTS),
        "--headless",
        "--host",
        host,
        "--summary",
        str(summary),
        "--only-summary",
        "--stop-timeout",
        "30",
        *args,
    ]
    proc = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    output = proc.stdout + proc.stderr
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return LocustRun(proc.returncode, output, data)
