"""Known failures: a file of test ids with reasons. Listed failures are reported but do not fail."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import yaml

_TEST_ID = re.compile(r"(test_[^/\\:]+\.py::.*)$")


def key(nodeid: str) -> str:
    """A location-independent test id: the same from a checkout and with --pyargs."""
    match = _TEST_ID.search(nodeid.replace("\\", "/"))
    return match.group(1) if match else nodeid


def load(path: str) -> dict[str, str]:
    """Read {test id: reason}. Accepts JSON or YAML: a mapping, or {"known_failures": mapping}."""
    file = Path(path)
    if not file.exists():
        return {}
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and "known_failures" in data:
        data = data["known_failures"]
    if isinstance(data, list):
        data = {str(entry): "listed in baseline" for entry in data}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of test id to reason")
    return {key(str(k)): str(v or "listed in baseline") for k, v in data.items()}


@functools.cache
def cached(path: str) -> dict[str, str]:
    return load(path)


def write(path: str, failures: dict[str, str], previous: dict[str, str]) -> None:
    """Write the current failures, keeping reasons already written by a person."""
    entries = {k: previous.get(k, reason) for k, reason in sorted(failures.items())}
    Path(path).write_text(
        json.dumps({"known_failures": entries}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
