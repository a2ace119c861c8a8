"""The plugin end to end: skipping without a server, options from env vars, baseline and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _compliance_catalogue import CASES
from _compliance_proxy import MutatingProxy

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parents[2]


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INFERNO_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "compliance", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**clean, **(env or {})},
        check=False,
    )


def test_without_base_url_everything_skips_with_a_reason() -> None:
    proc = _pytest("-rs")
    assert proc.returncode == 0, proc.stdout
    assert "passed" not in proc.stdout.splitlines()[-1]
    assert "pass --base-url" in proc.stdout


def test_bad_option_is_a_usage_error() -> None:
    proc = _pytest("--base-url", "http://127.0.0.1:9/v1", "--preset", "huge")
    assert proc.returncode == 4
    assert "--preset must be one of" in proc.stderr


def test_env_vars_configure_a_run_and_write_reports(base_url: str, tmp_path: Path) -> None:
    env = {
        "INFERNO_BASE_URL": base_url + "/v1",
        "INFERNO_PRESET": "core",
        "INFERNO_REPORT": str(tmp_path),
    }
    proc = _pytest("-k", "test_models", env=env)
    assert proc.returncode == 0, proc.stdout
    assert "Inferno compliance summary" in proc.stdout
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["settings"]["preset"] == "core" and data["score"] == 100.0
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    assert (tmp_path / "report.md").exists()


def test_baseline_turns_known_failures_into_reports(base_url: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "usage-arithmetic")
    baseline = tmp_path / "baseline.json"
    with MutatingProxy(base_url, case.mutation) as proxy:
        args = ("--base-url", proxy.base_url, "--preset", "core", "-k", case.target)
        first = _pytest(*args, "--baseline", str(baseline), "--update-baseline")
        assert first.returncode == 1, first.stdout
        entries = json.loads(baseline.read_text())["known_rules"]
        assert list(entries) == ["usage.counts"]
        assert entries["usage.counts"]["tests"] == ["test_chat.py::test_chat_shape_and_usage"]
        second = _pytest(*args, "--baseline", str(baseline))
        assert second.returncode == 0, second.stdout
        assert "known failure (baseline)" in second.stdout or "xfailed" in second.stdout
        # Another rule failing in the baselined test is new: it fails the run.
        other = tmp_path / "other.json"
        other.write_text(json.dumps({"known_rules": {"schema.body": entries["usage.counts"]}}))
        third = _pytest(*args, "--baseline", str(other))
        assert third.returncode == 1, third.stdout
    # Against the correct server the rule holds: the entry is reported stale, the run passes.
    fourth = _pytest(
        "--base-url", base_url + "/v1", "--preset", "core", "-k", case.target,
        "--baseline", str(baseline),
    )  # fmt: skip
    assert fourth.returncode == 0, fourth.stdout
    assert "fixed, remove from baseline: usage.counts" in fourth.stdout


def test_works_with_xdist(base_url: str) -> None:
    proc = _pytest("--base-url", base_url + "/v1", "--preset", "core", "-n", "2", "-k", "models")
    assert proc.returncode == 0, proc.stdout
    assert "Inferno compliance summary" in proc.stdout
