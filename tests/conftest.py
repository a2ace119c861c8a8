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
# The modules that take minutes, longest first: spread over workers (one module per worker,
# `--dist loadscope`), they start at once instead of one of them starting last and alone.
LONGEST_FIRST = (
    "compliance/test_catalogue.py",
    "compliance/test_hostile_servers.py",
    "test_packaging.py",
    "benchmarks/test_reliability.py",
    "compliance/test_reference_passes.py",
)
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(TESTS).as_posix()
        if where.startswith(THIRD_PARTY):
            item.add_marker(pytest.mark.third_party)
    items.sort(key=_start_order)  # stable: every other test keeps its place


def _start_order(item: pytest.Item) -> int:
    where = item.path.relative_to(TESTS).as_posix()
    return LONGEST_FIRST.index(where) if where in LONGEST_FIRST else len(LONGEST_FIRST)
