"""The reliability benchmark: its verdicts follow the figures, and a quick run goes end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.reliability import _engine_death, _render

ROOT = Path(__file__).resolve().parents[2]


def _storm(**changes: Any) -> dict[str, Any]:
    storm = {
        "requests": 10,
        "in_flight": 4,
        "duration_s": 1.0,
        "vanishing": {"mid-stream": 6},
        "vanishing_saw": {"200": 6},
        "vanishing_5xx": 0,
        "well_behaved": 4,
        "well_behaved_complete": 3,
        "well_behaved_shed": 1,
        "well_behaved_bad": 0,
        "well_behaved_5xx": 0,
        "bad_examples": [],
        "idle_after_s": 0.01,
        "next_request_status": 200,
        "next_request_s": 0.02,
        "server_statuses": {"200": 9, "429": 1},
        "server_5xx": 0,
        "server_outcomes": {"cancelled": 6, "completed": 3, "shed": 1},
        "accounting": {"routes": {}, "adds_up": True},
    }
    return storm | changes


def _verdicts(storm: dict[str, Any]) -> list[bool | None]:
    return [ok for _, _, ok in _render.criteria({"sections": {"storm": storm}, "plan": {}})]


def test_a_healthy_storm_holds_every_criterion() -> None:
    assert _verdicts(_storm()) == [True, True, True]


@pytest.mark.parametrize(
    "changes",
    [
        {"server_5xx": 1},
        {"well_behaved_bad": 1},
        {"idle_after_s": 1.5},
        {"idle_after_s": None},
        {"next_request_status": 503},
        {"server_outcomes": {"completed": 3}},  # vanished clients not counted as cancelled
    ],
)
def test_a_broken_figure_breaks_its_criterion(changes: dict[str, Any]) -> None:
    assert False in _verdicts(_storm(**changes))


def _engine_faults(**death_changes: Any) -> dict[str, Any]:
    death = {
        "requests": 6,
        "held_at_fault": 5,
        "answers": {"error event": 1, "complete": 1, "500": 4},
        "lost": 0,
        "not_in_envelope": 0,
        "fault_to_all_answered_s": 0.02,
        "fault_to_ready_s": 0.2,
        "restarts": 1.0,
        "freed": True,
        "next_request_status": 200,
        "give_up": {
            "failures": 4,
            "statuses": ["500"] * 3,
            "exit_code": 3,
            "expected_exit_code": 3,
            "last_fault_to_exit_s": 1.4,
        },
    } | death_changes
    return {
        "command": "pytest ...",
        "seconds": 1.0,
        "tests": [{"test": "t", "outcome": "passed"}],
        "all_passed": True,
        "output_tail": "",
        "death": death,
        "death_holds": _engine_death.holds(death),
    }


def _engine_verdict(section: dict[str, Any]) -> bool | None:
    result = {"sections": {"engine faults": section}, "plan": {}}
    [(_, measured, ok)] = _render.criteria(result)
    assert "engine death" in measured
    return ok


def test_engine_death_figures_decide_the_engine_fault_criterion() -> None:
    assert _engine_verdict(_engine_faults()) is True
    section = _engine_faults()
    assert "0 lost" in "\n".join(dict(_render.SECTIONS)["engine faults"](section))


@pytest.mark.parametrize(
    "changes",
    [
        {"lost": 1},
        {"not_in_envelope": 1},
        {"restarts": 0.0},
        {"freed": False},
        {"next_request_status": 503},
        {"give_up": {"exit_code": 0, "expected_exit_code": 3}},
        {"error": "TimeoutError: not reached"},
    ],
)
def test_a_broken_engine_death_figure_breaks_the_criterion(changes: dict[str, Any]) -> None:
    assert _engine_verdict(_engine_faults(**changes)) is False


@pytest.mark.slow
def test_a_quick_run_writes_results_and_the_report(tmp_path: Path) -> None:
    out, doc = tmp_path / "result.json", tmp_path / "reliability.md"
    command = [
        sys.executable, "-m", "benchmarks.reliability", "--quick",
        "--only", "storm,overload,engine faults", "--out", str(out), "--doc", str(doc),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert out.exists(), done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["sections"]) == {"storm", "overload", "engine faults"}
    assert result["sections"]["overload"]["burst"] == 10 * result["plan"]["max_queue"]
    text = doc.read_text()
    assert "| criterion | measured | verdict |" in text and "## overload" in text
    assert "seed:" in done.stdout
