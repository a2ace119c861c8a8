"""ServerProcess: a real server on a free loopback port, stopped and cleaned up on exit."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from reference_server.launcher import ServerProcess, free_port


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_server_is_ready_on_entry_and_gone_on_exit() -> None:
    server = ServerProcess(["--model", "tiny"])
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.base_url + "/health", timeout=5).status_code == 200
        log_path = server.log_path
    assert server.process is not None and server.process.poll() is not None
    assert not log_path.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/health", timeout=2)


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    server = ServerProcess(["--model", str(missing)])
    with pytest.raises(RuntimeError, match=r"missing\.gguf"), server:
        pass
    server.log_path.unlink(missing_ok=True)
    assert server.process is not None and server.process.returncode == 2


def test_a_failed_start_leaves_no_log_file(tmp_path: Path) -> None:
    server = ServerProcess(["--model", str(tmp_path / "missing.gguf")])
    with pytest.raises(RuntimeError), server:
        pass
    leaked = server.log_path.exists()
    server.log_path.unlink(missing_ok=True)
    assert not leaked
