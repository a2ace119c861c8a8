"""A peer's server command as a process on a loopback port, through the shared launcher."""

from __future__ import annotations

from pathlib import Path

from inferno.launcher import ReadyProbe, ServerProcess, ServerStartError, free_port

__all__ = ["ServerStartError", "peer_server", "pick_port"]

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 180.0


def peer_server(
    command: list[str], port: int, probe: tuple[str, str, dict | None]
) -> ServerProcess:
    """The peer on `port`, ready once the probe request (the kind we measure) answers 200.

    A listening socket is not enough: a peer may answer 503 while it loads the model.
    """
    method, path, body = probe
    return ServerProcess(
        command,
        port=port,
        probe=ReadyProbe(method, path, body),
        cwd=ROOT,  # the no-repack launcher is imported from the checkout
        startup_timeout=STARTUP_TIMEOUT_S,
    )


def pick_port() -> int:
    return free_port()
