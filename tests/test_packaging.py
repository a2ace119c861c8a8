"""The built wheel: what it ships, what its core install pulls in, and how it behaves installed."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("llama-cpp-python", "sanic", "locust", "gevent")
PIP_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )  # fmt: skip
    (built,) = out.glob("inferno_harness-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(wheel_path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(wheel_path)


def _requirements(wheel: zipfile.ZipFile) -> tuple[list[str], dict[str, list[str]]]:
    """(core requirement names, extra → requirement names) from the wheel's METADATA."""
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(name).decode())
    core: list[str] = []
    extras: dict[str, list[str]] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
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
    """A new virtualenv with the core wheel and pytest-base-url, nothing of the checkout."""
    folder = tmp_path_factory.mktemp("fresh-venv")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(wheel_path), "pytest-base-url>=2.1"],
        check=True,
        timeout=PIP_TIMEOUT_S,
        cwd=folder,
        capture_output=True,
    )  # fmt: skip
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("INFERNO")}
    return subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_installed_plugin_leaves_unrelated_runs_alone(fresh_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TESTS)
    run = _run(fresh_venv, "test_unrelated.py", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    help_text = _run(fresh_venv, "--help", cwd=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    assert help_text.stdout.count("--base-url") >= 1  # pytest-base-url's own option
    assert "--preset" not in help_text.stdout and "Inferno" not in help_text.stdout
    markers = _run(fresh_venv, "--markers", cwd=tmp_path)
    assert "preset(name)" not in markers.stdout


@pytest.mark.slow
def test_installed_suite_runs_beside_pytest_base_url(
    fresh_venv: Path, tmp_path: Path, base_url: str
) -> None:
    run = _run(
        fresh_venv, "--pyargs", "compliance", "--base-url", base_url, "--preset", "core", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Inferno compliance summary" in run.stdout, run.stdout + run.stderr
    assert "failed" not in run.stdout.splitlines()[-1]
