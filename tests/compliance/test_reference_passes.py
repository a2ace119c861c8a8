"""The reference server passes the whole suite: preset full (the clients area included), under
every profile and the stack of both opt-in ones, with auth on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferno.launcher import ServerProcess, reference_server_process

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "compliance-key"
# Fixed seeds keep `make test` reproducible; a failing seed is printed by the suite itself.
# Profiles only add rules, so passing the stacked one passes strict and openresponses alone;
# openai is run apart, as the one profile that must not apply the added rules.
FUZZ_SEEDS = {"openai": "11", "openresponses,strict": "14"}
# Negative fuzzing has nothing to mutate in operations without a body or query; declining hosted
# tools is a rule of the strict profile only, assistant message phases one of Open Responses.
NOT_APPLICABLE = {
    "test_fuzz.py::test_fuzz[listModels-negative]",
    "test_fuzz.py::test_fuzz[retrieveModel-negative]",
    "test_responses_errors.py::test_responses_error_row[responses-hosted-tool]",
    "test_responses.py::test_responses_assistant_phase_accepted[plain]",
    "test_responses.py::test_responses_assistant_phase_accepted[stream]",
}
# A client flow for an endpoint the server does not offer is skipped with that reason.
NOT_OFFERED = "has no /v1/responses"


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[ServerProcess]:
    with reference_server_process(["--model", "tiny", "--api-key", API_KEY]) as server:
        yield server


@pytest.mark.parametrize("profile", list(FUZZ_SEEDS))
def test_reference_server_passes_full_preset(
    keyed_server: ServerProcess, profile: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INFERNO_")}
    command = [
        sys.executable, "-m", "pytest", "compliance", "-q", "-p", "no:cacheprovider",
        "--base-url", keyed_server.base_url + "/v1", "--api-key", API_KEY,
        "--preset", "full", "--profile", profile, "--fuzz-seed", FUZZ_SEEDS[profile],
        "--report", str(tmp_path),
    ]  # fmt: skip
    if os.environ.get("INFERNO_CLIENTS_PYTHON"):  # make test-latest: the newest client libraries
        command += ["--clients-python", os.environ["INFERNO_CLIENTS_PYTHON"]]
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=clean, check=False
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["score"] == 100.0
    failed = {area: row["failed"] for area, row in report["matrix"].items() if row["failed"]}
    assert not failed, failed
    skipped = {
        r["test_id"]
        for r in report["results"]
        if r["outcome"] == "skipped" and NOT_OFFERED not in r["reason"]
    }
    assert skipped <= NOT_APPLICABLE, skipped - NOT_APPLICABLE
    assert report["deviations"] == [] and report["summary"]["weighted_score"] == 100.0
