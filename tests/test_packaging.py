"""The built wheel: what it ships, what its core install pulls in, and how it behaves installed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests._fresh_venv import assert_suite_passes, build_wheel, metadata, run_pytest, venv_with

HEAVY = ("llama-cpp-python", "sanic", "locust", "gevent")


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def wheel(wheel_path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(wheel_path)


def _requirements(wheel: zipfile.ZipFile) -> tuple[list[str], dict[str, list[str]]]:
    """(core requirement names, extra → requirement names) from the wheel's METADATA."""
    core: list[str] = []
    extras: dict[str, list[str]] = {}
    for requirement in metadata(wheel):
        spec, _, marker = requirement.partition(";")
        project = spec.strip().split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        if "extra ==" in marker:
            extra = marker.split("extra ==")[1].strip().strip("'\"")
            extras.setdefault(extra, []).append(project.lower())
        else:
            core.append(project.lower())
    return core, extras


def test_the_core_install_pulls_in_nothing_heavy(wheel: zipfile.ZipFile) -> None:
    core, extras = _requirements(wheel)
    assert {"httpx", "jsonschema", "schemathesis", "pytest", "openai"} <= set(core)
    assert not set(core) & set(HEAVY), f"core requirements name {set(core) & set(HEAVY)}"
    assert {"sanic", "llama-cpp-python"} <= set(extras["server"])
    assert "locust" in extras["load"]
    assert "inferno-harness" in extras["all"]


def test_wheel_ships_the_spec_and_the_postman_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "specs/openapi.yaml" in names
    assert "postman/inferno.postman_collection.json" in names
    assert "postman/inferno.postman_environment.json" in names


def test_wheel_ships_every_package(wheel: zipfile.ZipFile) -> None:
    packages = {name.split("/", 1)[0] for name in wheel.namelist() if name.endswith(".py")}
    expected = {"specs", "inferno", "reference_server", "compliance", "loadtests", "postman"}
    assert expected <= packages
    assert "tests" not in packages and "benchmarks" not in packages


def test_wheel_registers_only_the_plugin_gate(wheel: zipfile.ZipFile) -> None:
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "[pytest11]" in text
    assert "inferno_compliance = compliance._entry" in text


def test_spec_loads_from_outside_the_checkout(tmp_path: Path) -> None:
    # Run from an unrelated folder so the checkout's files cannot be picked up by accident.
    code = "import specs; print(specs.spec_path()); print(specs.load_spec()['openapi'])"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("3.1")


# -- installed in a fresh virtualenv beside pytest-base-url -----------------------------------
# The oldest end of the openai range has a module of its own (test_packaging_oldest.py), so that
# its virtualenv and suite run go on beside this one's on another worker.

UNRELATED_TESTS = """
import pytest

@pytest.fixture
def client():
    return "mine"

def test_my_own_client_fixture(client, request):
    assert client == "mine"
    # pytest-base-url's fixture is there (no URL given); none of the suite's fixtures are.
    assert not request.getfixturevalue("base_url")
    for name in ("settings", "caps", "model", "embedding_model"):
        with pytest.raises(pytest.FixtureLookupError):
            request.getfixturevalue(name)
"""


@pytest.fixture(scope="module")
def fresh_venv(wheel_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest end of the openai range: what pip picks (the locked version under `make
    test`, the newest release under `make test-latest`)."""
    folder = tmp_path_factory.mktemp("fresh-venv")
    if os.environ.get("PIP_CONSTRAINT"):
        lock = Path(os.environ["PIP_CONSTRAINT"]).read_text().splitlines()
        pinned = [line.split(";")[0].strip() for line in lock if line.startswith("openai==")]
        return venv_with(wheel_path, folder, *pinned)
    return venv_with(wheel_path, folder)


@pytest.mark.slow
def test_installed_plugin_leaves_unrelated_runs_alone(fresh_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TESTS)
    run = run_pytest(fresh_venv, "test_unrelated.py", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    help_text = run_pytest(fresh_venv, "--help", cwd=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    assert help_text.stdout.count("--base-url") >= 1  # pytest-base-url's own option
    assert "--preset" not in help_text.stdout and "Inferno" not in help_text.stdout
    markers = run_pytest(fresh_venv, "--markers", cwd=tmp_path)
    assert "preset(name)" not in markers.stdout


@pytest.mark.slow
def test_installed_suite_runs_beside_pytest_base_url_with_the_newest_openai(
    fresh_venv: Path, tmp_path: Path, base_url: str
) -> None:
    """The suite and the openai flows of the clients area pass with the SDK pip picks."""
    assert_suite_passes(fresh_venv, base_url, tmp_path)
