"""Run one peer's server command on a free loopback port until it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from reference_server.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent


class ServerStartError(RuntimeError):
    pass


class PeerServer:
    """A child process in its own session (so stopping it stops its children too)."""

    def __init__(
        self, command: list[str], port: int, ready_probe: tuple[str, str, dict | None]
    ) -> None:
        self.command = command
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready_probe = ready_probe
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="inferno-bench-", suffix=".log", delete=False
        )

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout_s: float = 180.0) -> PeerServer:
        self.process = subprocess.Popen(
            self.command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,  # the no-repack launcher is imported from the checkout
        )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        # A listening socket is not enough: a peer may answer 503 while it loads the model,
        # so readiness is the first successful real request of the kind we will measure.
        method, path, body = self.ready_probe
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ServerStartError(
                        f"exited with status {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    response = client.request(method, path, json=body)
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise ServerStartError(f"not ready within {timeout_s:g} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def __enter__(self) -> PeerServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()
        os.unlink(self._log.name)


def pick_port() -> int:
    return free_port()
