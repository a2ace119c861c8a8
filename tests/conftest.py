"""Fixtures shared by every test package: a real reference server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance.plugin import register_markers
from inferno.launcher import ServerProcess, reference_server_process

# A failure pytest cannot render is still reported, and the run goes on.
pytest_plugins = ("inferno.safe_report",)


def pytest_configure(config: pytest.Config) -> None:
    # Some tests import the suite's modules (to list its rules) without loading its plugin.
    register_markers(config)


@pytest.fixture(scope="session")
def reference_server() -> Iterator[ServerProcess]:
    """One reference server on the tiny model for the whole session (per xdist worker)."""
    with reference_server_process(["--model", "tiny"]) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(reference_server: ServerProcess) -> str:
    return reference_server.base_url


# Tests that exercise third-party APIs: the openai SDK, the client libraries, schemathesis,
# Locust, Sanic, pytest's plugin API, the JSON Schema and OpenAPI validators, newman.
# `make test-latest` runs them against the newest release of every dependency.
THIRD_PARTY = (
    "reference_server/test_api_",
    "reference_server/test_compression.py",
    "reference_server/test_streaming_extras.py",
    "reference_server/test_flow_control.py",
    "compliance/test_reference_passes.py",
    "compliance/test_plugin.py",
    "compliance/test_suite_pieces.py",
    "loadtests/",
    "postman/",
    "test_packaging.py",
    "test_spec",
)
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(TESTS).as_posix()
        if where.startswith(THIRD_PARTY):
            item.add_marker(pytest.mark.third_party)
