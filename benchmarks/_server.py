"""A peer's server command as a process on a loopback port, through the shared launcher."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from inferno.launcher import ReadyProbe, ServerProcess, ServerStartError, free_port

from ._peers import Launch, Peer

__all__ = ["ServerStartError", "peer_server", "pick_port", "serve"]

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 180.0

Probe = tuple[str, str, dict | None]


def peer_server(
    command: list[str], port: int, probe: Probe, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """The peer on `port`, ready once the probe request (the kind we measure) answers 200.

    A listening socket is not enough: a peer may answer 503 while it loads the model.
    """
    method, path, body = probe
    return ServerProcess(
        command,
        port=port,
        probe=ReadyProbe(method, path, body),
        env=env,
        cwd=ROOT,  # the no-repack launcher is imported from the checkout
        startup_timeout=STARTUP_TIMEOUT_S,
    )


@contextmanager
def serve(peer: Peer, launch: Launch, role: str, probe: Probe) -> Iterator[ServerProcess]:
    """The peer ready on `launch.port`; a proxy's upstream first, ready on a port of its own.

    Raises ServerStartError when either does not start; both are stopped on the way out.
    """
    if peer.upstream is None:
        with peer_server(peer.command(launch, role), launch.port, probe, peer.env) as server:
            yield server
        return
    behind = dataclasses.replace(launch, port=pick_port())
    upstream = peer.upstream
    with peer_server(upstream.command(behind, role), behind.port, probe, upstream.env) as back:
        front = dataclasses.replace(launch, upstream=f"{back.base_url}/v1")
        command = peer.command(front, role)
        with peer_server(command, launch.port, peer.ready or probe, peer.env) as server:
            yield server


def pick_port() -> int:
    return free_port()
