"""The suite's client, and the whole suite, against the hostile servers (`_hostile_servers`).

Shared by the tests and by the reliability benchmark, which reports the same runs as figures.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from compliance._client import ApiClient, Exchange
from tests.compliance._hostile_servers import MODEL_ID, Case, HostileServer

ROOT = Path(__file__).resolve().parents[2]
MEMORY_CAP = 4 * 1024**3  # address space of a suite run: a regression fails it, not the machine
_CHAT = {"model": MODEL_ID, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def verdict(exchange: Exchange) -> str:
    """What the suite's client made of an exchange, in one line."""
    if exchange.error:
        return exchange.error
    if exchange.sse is not None:
        if exchange.sse.stopped:
            return f"stream stopped: {exchange.sse.stopped}"
        return f"status {exchange.status}, {len(exchange.sse.events)} events"
    try:
        json.loads(exchange.body)
    except ValueError:
        return f"status {exchange.status}, body not JSON"
    return f"status {exchange.status}, JSON"


@dataclass(frozen=True)
class Probe:
    plain: str
    stream: str
    plain_s: float
    stream_s: float


def probe(case: Case, timeout: float) -> Probe:
    """One plain and one streamed chat request through the suite's client."""
    with HostileServer(case) as server:
        client = ApiClient(server.base_url, None, timeout)
        try:
            plain = client.post("/chat/completions", _CHAT)
            stream = client.stream("/chat/completions", {**_CHAT, "stream": True})
        finally:
            client.close()
    return Probe(verdict(plain), verdict(stream), plain.elapsed, stream.elapsed)


@dataclass(frozen=True)
class SuiteRun:
    case: str
    exit_code: int | None  # None: killed at the run's own deadline
    seconds: float
    max_rss_bytes: int
    summary: str  # pytest's last line
    output: str  # the end of the output
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test, message), JUnit XML

    @property
    def ended_by_itself(self) -> bool:
        return self.exit_code is not None

    def rules(self) -> Counter[str]:
        """How many failures each rule caused: the innermost `[rule]` of a failure's first line
        (`[chat.basic.transport] request failed: [transport.deadline] ...` counts the second)."""
        found = (_rules(message) for _, message in self.failures)
        return Counter(names[-1] if names else NO_RULE for names in found)

    def without_rule(self) -> list[tuple[str, str]]:
        return [(test, message) for test, message in self.failures if not _rules(message)]


NO_RULE = "(no rule)"


# A rule has dots: [chat.basic.status] or [fuzz.createEmbedding.negative], not [400] or [DONE].
_RULE = re.compile(r"\[([A-Za-z][\w\-]*(?:\.[\w\-]+)+)\]")


def _rules(message: str) -> list[str]:
    return _RULE.findall(message.split("\n", 1)[0])


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_suite(
    case: Case,
    *,
    preset: str = "core",
    request_timeout: float = 2.0,
    run_timeout: float = 900.0,
    extra_args: tuple[str, ...] = (),
) -> SuiteRun:
    """`pytest compliance` against the case's server; its peak RSS comes from wait4()."""
    with (
        HostileServer(case) as server,
        tempfile.TemporaryDirectory(prefix="inferno-hostile-") as tmp,
        open(Path(tmp) / "output", "w+b") as log,
    ):
        junit = Path(tmp) / "junit.xml"
        command = [
            sys.executable, "-m", "pytest", "compliance", "-q", "-p", "no:cacheprovider",
            "--base-url", server.base_url, "--preset", preset,
            "--request-timeout", str(request_timeout), "--junitxml", str(junit), *extra_args,
        ]  # fmt: skip
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_cap_memory,
            start_new_session=True,
        )
        exit_code, rss = _wait(process, started + run_timeout)
        seconds = time.monotonic() - started
        log.seek(0)
        output = log.read().decode("utf-8", errors="replace")
        failures = _failures(junit)
    lines = [line for line in output.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else ""
    return SuiteRun(case.name, exit_code, seconds, rss, summary, output[-12000:], failures)


def _failures(junit: Path) -> list[tuple[str, str]]:
    if not junit.exists():
        return []
    found = []
    for testcase in ET.parse(junit).getroot().iter("testcase"):
        for node in testcase.iter("failure"):
            test = f"{testcase.get('classname')}::{testcase.get('name')}"
            found.append((test, (node.get("message") or node.text or "").strip()))
    return found


def _wait(process: subprocess.Popen[bytes], until: float) -> tuple[int | None, int]:
    """(exit code or None if it had to be killed, peak RSS in bytes)."""
    while time.monotonic() < until:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_maxrss * 1024
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = -signal.SIGKILL
    return None, usage.ru_maxrss * 1024
