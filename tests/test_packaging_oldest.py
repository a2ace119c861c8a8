"""The oldest end of the openai range `pyproject.toml` declares: the installed suite and the
openai flows of the clients area pass with it (the newest end is in test_packaging.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests._fresh_venv import (
    assert_suite_passes,
    build_wheel,
    installed_openai,
    is_version,
    openai_floor,
    venv_with,
)


@pytest.mark.slow
def test_installed_suite_runs_beside_pytest_base_url_with_the_oldest_openai(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, base_url: str
) -> None:
    wheel_path = build_wheel(tmp_path_factory.mktemp("wheel"))
    floor = openai_floor(zipfile.ZipFile(wheel_path))
    python = venv_with(
        wheel_path, tmp_path_factory.mktemp("oldest-openai-venv"), f"openai=={floor}"
    )
    assert is_version(installed_openai(python), floor)
    assert is_version(assert_suite_passes(python, base_url, tmp_path), floor)
