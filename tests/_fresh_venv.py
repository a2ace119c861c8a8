"""A fresh virtualenv with the built wheel, nothing of the checkout: what the packaging tests
install and run the suite in, at either end of the openai range `pyproject.toml` declares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT_S = 600
# The SDK checks that must have run, not been skipped, at each end of the range.
SDK_CHECKS = (
    "test_sdk.py::test_sdk_chat",
    "test_sdk.py::test_sdk_chat_stream",
    "test_sdk.py::test_sdk_embeddings",
    "test_responses_sdk.py::test_sdk_responses_stream",
    "test_clients.py::test_client_flow[openai-stream-helper]",
    "test_clients.py::test_client_flow[openai-parse]",
)


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )  # fmt: skip
    (built,) = out.glob("inferno_harness-*.whl")
    return built


def metadata(wheel: zipfile.ZipFile) -> list[str]:
    """The wheel's Requires-Dist lines."""
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return Parser().parsestr(wheel.read(name).decode()).get_all("Requires-Dist") or []


def openai_floor(wheel: zipfile.ZipFile) -> str:
    """The oldest openai the wheel's core requirements allow (`openai>=X`)."""
    for line in metadata(wheel):
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


def venv_with(wheel_path: Path, folder: Path, *extra: str) -> Path:
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


def run_pytest(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
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


def installed_openai(python: Path) -> str:
    code = "import openai; print(openai.__version__)"
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def assert_suite_passes(python: Path, base_url: str, tmp_path: Path) -> str:
    """The suite and the openai flows of the clients area pass in `python`'s virtualenv;
    returns the openai version installed there."""
    version = installed_openai(python)
    report = tmp_path / "report"
    run = run_pytest(
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
    return version


def is_version(installed: str, expected: str) -> bool:
    return Version(installed) == Version(expected)
