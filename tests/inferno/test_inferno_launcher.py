"""The one launcher: a real server on a loopback port, ready on entry, gone on exit."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from inferno.launcher import (
    ReadyProbe,
    ServerProcess,
    ServerStartError,
    free_port,
    reference_server_process,
)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_the_reference_server_binds_port_0_and_reports_its_port() -> None:
    server = reference_server_process(["--model", "tiny"])
    assert server.port is None
    with server:
        assert server.port is not None and server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.base_url + "/health", timeout=5).status_code == 200
        log_path = server.log_path
    assert server.process is not None and server.process.poll() is not None
    assert not log_path.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/health", timeout=2)


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path: Path) -> None:
    server = reference_server_process(["--model", str(tmp_path / "missing.gguf")])
    with pytest.raises(ServerStartError, match=r"missing\.gguf"), server:
        pass
    assert server.process is not None and server.process.returncode == 2
    assert not server.log_path.exists(), "a failed start leaves no log file"


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    """A server that forks a child of its own: stopping the server stops the child too."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import http.server, os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "port = int(sys.argv[1])\n"
        "http.server.HTTPServer(('127.0.0.1', port), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()\n"
    )
    port = free_port()
    command = [sys.executable, "-c", script, str(port)]
    with ServerProcess(command, port=port, probe=ReadyProbe("GET", "/"), cwd=tmp_path):
        child = int(pid_file.read_text())
        assert _alive(child)
    assert not _alive(child)


def test_a_server_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", "import time; time.sleep(600)"]
    server = ServerProcess(command, port=port, startup_timeout=0.5)
    with pytest.raises(ServerStartError, match="not ready"), server:
        pass
    assert server.process is not None and server.process.poll() is not None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
