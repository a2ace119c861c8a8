"""Start a real reference server process on a free loopback port (tests, demo, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m reference_server serve` as a child process, ready once /health says so.

    >>> with ServerProcess(["--model", "tiny"]) as server:
    ...     httpx.get(server.base_url + "/v1/models")
    """

    def __init__(
        self,
        args: list[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        startup_timeout: float = 120.0,
        module: str = "reference_server",
    ) -> None:
        self.args = list(args or ["--model", "tiny"])
        self.env = env
        self.startup_timeout = startup_timeout
        self.module = module
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="inferno-server-", suffix=".log", delete=False
        )

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", self.module, "serve", "--port", str(self.port), *self.args]
        env = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"server not ready in {self.startup_timeout:g} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            self._close_log()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._close_log()

    def _close_log(self) -> None:
        self._log.close()
        if os.path.exists(self._log.name):
            os.unlink(self._log.name)
