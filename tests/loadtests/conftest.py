"""Fixtures for the load-profile tests: the scripted loopback server, a warmed reference server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sse_fixture import FixtureServer


@pytest.fixture(scope="session")
def fixture_server() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        yield server


@pytest.fixture(scope="session")
def warm_reference_server(reference_server: Any) -> Any:
    """The shared reference server, after a few generations: a fresh one starts slowly."""
    for _ in range(3):
        httpx.post(
            reference_server.base_url + "/v1/chat/completions",
            json={"model": "inferno-tiny", "messages": [{"role": "user", "content": "Hi"}],
                  "max_tokens": 4},
            timeout=60,
        )  # fmt: skip
    return reference_server


@pytest.fixture
def prompts(tmp_path: Path):
    """Write a JSONL prompt file whose prompts select fixture behaviours."""

    def make(*modes: str) -> str:
        path = tmp_path / "prompts.jsonl"
        path.write_text("".join(json.dumps({"prompt": m}) + "\n" for m in modes))
        return str(path)

    return make
