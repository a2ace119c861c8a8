"""The built wheel carries what an install without a checkout needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )  # fmt: skip
    (built,) = out.glob("inferno_harness-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_ships_the_spec_and_the_postman_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "specs/openapi.yaml" in names
    assert "postman/inferno.postman_collection.json" in names
    assert "postman/inferno.postman_environment.json" in names


def test_wheel_ships_every_package(wheel: zipfile.ZipFile) -> None:
    packages = {name.split("/", 1)[0] for name in wheel.namelist() if name.endswith(".py")}
    assert {"specs", "reference_server", "compliance", "loadtests", "postman"} <= packages
    assert "tests" not in packages and "benchmarks" not in packages


def test_wheel_registers_the_compliance_plugin(wheel: zipfile.ZipFile) -> None:
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "[pytest11]" in text
    assert "inferno_compliance = compliance.plugin" in text


def test_spec_loads_from_outside_the_checkout(tmp_path: Path) -> None:
    # Run from an unrelated folder so the checkout's files cannot be picked up by accident.
    code = "import specs; print(specs.spec_path()); print(specs.load_spec()['openapi'])"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("3.1")
