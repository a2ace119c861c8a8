"""Fixtures shared by every test package: a real reference server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inferno.launcher import ServerProcess, reference_server_process


@pytest.fixture(scope="session")
def reference_server() -> Iterator[ServerProcess]:
    """One reference server on the tiny model for the whole session (per xdist worker)."""
    with reference_server_process(["--model", "tiny"]) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(reference_server: ServerProcess) -> str:
    return reference_server.base_url
