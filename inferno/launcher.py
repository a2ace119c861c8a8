"""One launcher for every server process the tests, the benchmarks and the demo start.

A server runs as a child process in its own process group (stopping it stops its children too),
on a loopback port, with its output in a temporary log file that is removed when it stops. It is
ready once a probe request answers 200: a listening socket is not enough, since a server may
answer 503 while it loads its model.

    with reference_server_process(["--model", "tiny"]) as server:
        httpx.get(server.base_url + "/v1/models")
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = [
    "ReadyProbe",
    "ServerProcess",
    "ServerStartError",
    "free_port",
    "reference_server_process",
    "rss_bytes",
]

LOOPBACK = "127.0.0.1"
# How a server that bound port 0 tells which port it got: the first loopback URL it prints.
_REPORTED_URL = re.compile(rb"http://127\.0\.0\.1:(\d+)")
_POLL_S = 0.1
_STOP_GRACE_S = 10.0


class ServerStartError(RuntimeError):
    """The server exited, or was not ready in time; the message ends with its log."""


@dataclass(frozen=True)
class ReadyProbe:
    """The request whose 200 answer means "ready"."""

    method: str = "GET"
    path: str = "/health"
    json: Mapping[str, Any] | None = None


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process from /proc (Linux); `VmHWM` gives its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def free_port() -> int:
    """A loopback port free right now (for servers that cannot bind port 0 and report it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server command as a child process in its own process group.

    `port=None` means the command binds port 0 and prints its URL (`http://127.0.0.1:PORT…`);
    otherwise the command was told to listen on `port`.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int | None = None,
        probe: ReadyProbe = ReadyProbe(),
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.probe = probe
        self.env = dict(env or {})
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="inferno-server-", suffix=".log", delete=False
        )

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, known once the server has started."""
        if self.port is None:
            raise RuntimeError("the server has not reported its port yet")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def log(self, chars: int = 4000) -> str:
        """The end of the server's output."""
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,
        )
        try:
            self._wait_ready(time.monotonic() + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM to the whole process group; SIGKILL to what is left after a grace period.

        Returns once the group is gone, so a port or file the server held is free again.
        """
        process = self.process
        if process is None or process.poll() is not None:
            return
        group = process.pid
        if not _signal_group(group, signal.SIGTERM):
            return
        deadline = time.monotonic() + _STOP_GRACE_S
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_GRACE_S)
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _signal_group(group, signal.SIGKILL):
            process.wait(timeout=_STOP_GRACE_S)

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            self._remove_log()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._remove_log()

    # -- internals -----------------------------------------------------------------------------

    def _wait_ready(self, deadline: float) -> None:
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ServerStartError(
                        f"server exited with {self.process.returncode}:\n{self.log()}"
                    )
                if self.port is None:
                    self.port = self._reported_port()
                if self.port is not None and self._probe_ok(client):
                    return
                time.sleep(_POLL_S)
        raise ServerStartError(f"server not ready in {self.startup_timeout:g} s:\n{self.log()}")

    def _reported_port(self) -> int | None:
        self._log.flush()
        match = _REPORTED_URL.search(self.log_path.read_bytes())
        return int(match.group(1)) if match else None

    def _probe_ok(self, client: httpx.Client) -> bool:
        url = self.base_url + self.probe.path
        try:
            response = client.request(self.probe.method, url, json=self.probe.json)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _remove_log(self) -> None:
        self._log.close()
        self.log_path.unlink(missing_ok=True)


def _signal_group(group: int, sig: int) -> bool:
    """Sends `sig` to the process group; False when no process of it is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    return True


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process of the group is left."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def reference_server_process(
    args: Sequence[str] = ("--model", "tiny"),
    *,
    module: str = "reference_server",
    env: Mapping[str, str] | None = None,
    probe: ReadyProbe = ReadyProbe(),
    startup_timeout: float = 120.0,
) -> ServerProcess:
    """`python -m reference_server serve --port 0 ARGS`, on the port it reports.

    `module` names another entry point with the same command line (the tests' fault-injecting
    server wraps the reference server's CLI).
    """
    command = [sys.executable, "-m", module, "serve", "--port", "0", *args]
    return ServerProcess(command, env=env, probe=probe, startup_timeout=startup_timeout)
