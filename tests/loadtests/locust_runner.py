"""Run ``locust -f loadtests`` headless in a subprocess and collect its JSON summary.

Locust monkey-patches the standard library with gevent when imported, so it never runs inside the
test process; every run is a bounded subprocess (``-t`` plus a hard timeout).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
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
    if "--processes" in args:  # its own master port: distributed runs of other tests run beside
        port = str(free_port())
        args = (*args, "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--master-host", "127.0.0.1", "--master-port", port)  # fmt: skip
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def locust_workers(count: int) -> Iterator[list[str]]:
    """``count`` Locust workers on loopback, without custom arguments (the master sends them).

    Yields the master options that reach them; the master's quit message ends them, and any
    left behind is killed.
    """
    port = free_port()
    command = [sys.executable, "-m", "locust", "-f", str(LOADTESTS), "--worker",
               "--master-host", "127.0.0.1", "--master-port", str(port)]  # fmt: skip
    workers = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield [
            "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--expect-workers", str(count), "--expect-workers-max-wait", "30",
        ]  # fmt: skip
    finally:
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
