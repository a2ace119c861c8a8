"""Fixtures shared by every test package: a real reference server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reference_server.launcher import ServerProcess


@pytest.fixture(scope="session")
def reference_server() -> Iterator[ServerProcess]:
    """One reference server on the tiny model for the whole session (per xdist worker)."""
    with ServerProcess(["--model", "tiny"]) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(reference_server: ServerProcess) -> str:
    return reference_server.base_url
