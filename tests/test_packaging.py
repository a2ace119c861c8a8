"""The built wheel: what it ships, what its core install pulls in, and how it behaves installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

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


def _openai_floor(wheel: zipfile.ZipFile) -> str:
    """The oldest openai the wheel's core requirements allow (`openai>=X`)."""
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(name).decode())
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.name == "openai" and not requirement.marker:
            floors = [s.version for s in requirement.specifier if s.operator == ">="]
            assert floors, f"openai has no lower bound in the core requirements: {line}"
            return floors[0]
    raise AssertionError("openai is not a core requirement")


def _constraints_without(package: str, folder: Path) -> dict[str, str]:
    """The environment pip runs with: the lock that `make test` exports (PIP_CONSTRAINT), less
    `package`, whose version the caller picks; nothing when no lock is in force (test-latest)."""
    lock = os.environ.get("PIP_CONSTRAINT")
    if not lock:
        return {}
    kept = [
        line
        for line in Path(lock).read_text().splitlines()
        if line.split("==")[0].strip().lower() != package
    ]
    filtered = folder / "constraints.txt"
    filtered.write_text("\n".join(kept) + "\n")
    return {"PIP_CONSTRAINT": str(filtered)}


def _venv_with(wheel_path: Path, folder: Path, *extra: str) -> Path:
    """A new virtualenv with the core wheel, pytest-base-url and `extra`, nothing of the
    checkout."""
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    env = {**os.environ, **_constraints_without("openai", folder)}
    subprocess.run(
        # --no-compile: Python compiles what the runs import, not every module of the SDK.
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
         str(wheel_path), "pytest-base-url>=2.1", *extra],
        check=True,
        timeout=PIP_TIMEOUT_S,
        cwd=folder,
        capture_output=True,
        env=env,
    )  # fmt: skip
    return python


@pytest.fixture(scope="module")
def fresh_venv(wheel_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest end of the openai range: what pip picks (the locked version under `make
    test`, the newest release under `make test-latest`)."""
    folder = tmp_path_factory.mktemp("fresh-venv")
    if os.environ.get("PIP_CONSTRAINT"):
        lock = Path(os.environ["PIP_CONSTRAINT"]).read_text().splitlines()
        pinned = [line.split(";")[0].strip() for line in lock if line.startswith("openai==")]
        return _venv_with(wheel_path, folder, *pinned)
    return _venv_with(wheel_path, folder)


@pytest.fixture(scope="module")
def oldest_venv(
    wheel_path: Path, wheel: zipfile.ZipFile, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The oldest end of the openai range: the floor `pyproject.toml` declares."""
    folder = tmp_path_factory.mktemp("oldest-openai-venv")
    return _venv_with(wheel_path, folder, f"openai=={_openai_floor(wheel)}")


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


def _installed_openai(python: Path) -> str:
    code = "import openai; print(openai.__version__)"
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


# The SDK checks that must have run, not been skipped, at each end of the range.
SDK_CHECKS = (
    "test_sdk.py::test_sdk_chat",
    "test_sdk.py::test_sdk_chat_stream",
    "test_sdk.py::test_sdk_embeddings",
    "test_responses_sdk.py::test_sdk_responses_stream",
    "test_clients.py::test_client_flow[openai-stream-helper]",
    "test_clients.py::test_client_flow[openai-parse]",
)


@pytest.mark.slow
@pytest.mark.parametrize("end", ["oldest", "newest"])
def test_installed_suite_runs_beside_pytest_base_url(
    end: str,
    request: pytest.FixtureRequest,
    wheel: zipfile.ZipFile,
    tmp_path: Path,
    base_url: str,
) -> None:
    """The suite and the openai flows of the clients area pass with the SDK at both ends of
    the range `pyproject.toml` declares."""
    python: Path = request.getfixturevalue("oldest_venv" if end == "oldest" else "fresh_venv")
    version = _installed_openai(python)
    if end == "oldest":
        assert Version(version) == Version(_openai_floor(wheel))
    report = tmp_path / "report"
    run = _run(
        python, "--pyargs", "compliance", "--base-url", base_url, "--preset", "extended",
        "--clients", "--report", str(report), "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, f"openai {version}\n" + run.stdout[-3000:] + run.stderr[-2000:]
    assert "Inferno compliance summary" in run.stdout, run.stdout + run.stderr
    assert "failed" not in run.stdout.splitlines()[-1]
    outcomes = {
        r["test_id"]: r["outcome"]
        for r in json.loads((report / "report.json").read_text())["results"]
    }
    for check in SDK_CHECKS:
        assert outcomes.get(check) == "passed", f"openai {version}: {check} {outcomes.get(check)}"
