"""The reliability benchmark: its verdicts follow the figures, and a quick run goes end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks._client import Outcome
from benchmarks.reliability import _bad_config, _embed_beside, _engine_death, _render
from benchmarks.reliability._bad_config_cases import FIXED_CASES, Case, random_cases

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


# -- bad configuration ---------------------------------------------------------------------------

REFUSAL = (
    "usage: python -m reference_server serve [-h] ...\n"
    "python -m reference_server serve: error: argument --n-batch: 4 is less than --parallel (8)\n"
)


def test_a_refusal_names_the_flag_it_blames() -> None:
    assert _bad_config.named_flag(REFUSAL) == "--n-batch"
    env = "python -m reference_server serve: error: environment variable INFERNO_API_KEYS: key 2"
    assert _bad_config.named_flag(env) == "INFERNO_API_KEYS"
    listen = "error: argument --host/--port: cannot listen on 999.1.1.1:0: no such host\n"
    assert _bad_config.named_flag(listen) == "--host/--port"
    failed = "error: model 'm' failed to load: bad magic\nWARNING sanic.error: Task cancelled"
    assert _bad_config.named_flag(failed) is None
    assert _bad_config.last_error(failed).startswith("error: model 'm' failed to load")
    assert _bad_config.named_flag("") is None


def test_a_refusal_must_blame_a_flag_the_case_set() -> None:
    case = Case("c", ("--model", "tiny", "--parallel", "8", "--n-batch=4"))
    assert _bad_config.names_a_given_flag("--n-batch", case)
    assert not _bad_config.names_a_given_flag("--n-ctx", case)
    assert not _bad_config.names_a_given_flag(None, case)
    assert _bad_config.names_a_given_flag("--host/--port", Case("p", ("--port", "1")))
    env = Case("e", ("--model", "tiny"), env={"INFERNO_API_KEYS": "a b"})
    assert _bad_config.names_a_given_flag("INFERNO_API_KEYS", env)


@pytest.mark.parametrize(
    ("outcome", "output", "crashed"),
    [
        ("exit 2", REFUSAL, False),
        ("exit 1", "error: model 'm' failed to load", False),
        ("served", "", False),
        ("signal 6", "GGML_ASSERT(n_batch >= n_seq) failed", True),
        ("exit 1", "Traceback (most recent call last):\n  ...\nKeyError: 'x'", True),
        ("exit 3", "", True),
        ("hang", "", True),
    ],
)
def test_a_crash_is_a_signal_a_traceback_another_exit_or_a_hang(
    outcome: str, output: str, crashed: bool
) -> None:
    assert (_bad_config.crash(outcome, output) is not None) is crashed


def _judged(case: Case, outcome: str, output: str = REFUSAL, serves: bool | None = None):
    return _bad_config.judge(case, outcome, output, serves)


def test_bad_configuration_holds_only_when_every_case_does() -> None:
    bad = Case("n_batch below parallel", ("--model", "tiny", "--parallel", "8", "--n-batch", "4"))
    loose = Case("random 0", ("--model", "tiny", "--threads=2"), expected=None)
    good = [_judged(bad, "exit 2"), _judged(loose, "served", "", True)]
    section = _bad_config.summary(good, seed=1, seconds=2.0)
    assert section["outcomes"] == {"exit 2": 1, "served": 1}
    assert (section["refusals"], section["refusals_naming_the_flag"]) == (1, 1)
    assert _bad_config.holds(section)
    _, measured, ok = _bad_config.criterion(section)
    assert ok and "0 crashes" in measured and "1/1 exit-2 messages name the flag" in measured
    table = "\n".join(_bad_config.markdown(section))
    assert "n_batch below parallel" in table and "names `--n-batch`" in table
    wrong_flag = REFUSAL.replace("--n-batch:", "--n-ctx:")
    for broken in (
        [_judged(bad, "exit 2", wrong_flag)],  # blames a flag the case did not set
        [_judged(bad, "served", "", True)],  # a bad case served
        [_judged(loose, "signal 6", "")],  # llama.cpp aborted
        [_judged(loose, "served", "", False)],  # served, then failed a request
        [],
    ):
        assert not _bad_config.holds(_bad_config.summary(broken, seed=1, seconds=1.0)), broken


def test_every_fixed_case_expects_a_refusal_or_a_load_failure_and_random_ones_repeat() -> None:
    names = [case.name for case in FIXED_CASES]
    assert len(names) == len(set(names))
    assert {case.expected for case in FIXED_CASES} == {2, 1}
    assert random_cases(6, seed=3) == random_cases(6, seed=3)
    assert random_cases(6, seed=3) != random_cases(6, seed=4)
    assert all(case.expected is None for case in random_cases(6, seed=3))


# -- embeddings beside streams -------------------------------------------------------------------


def _stream(gaps_ms: list[float], tokens_per_event: int = 1) -> Outcome:
    gaps = [g / 1000 for g in gaps_ms]
    tokens = (len(gaps) + 1) * tokens_per_event
    return Outcome(200, 1.0, ttft_s=0.01, e2e_s=0.01 + sum(gaps), output_tokens=tokens, itl_s=gaps)


def test_the_embedding_ratio_is_of_the_itl_p95s_and_holds_up_to_two() -> None:
    alone = [_stream([1.0] * 19 + [2.0])]
    embeds = [Outcome(200, 0.1)]
    close = _embed_beside.summary(alone, [_stream([1.5] * 19 + [3.0])], embeds)
    assert close["ratio"] == pytest.approx(
        close["itl_p95_beside_ms"] / close["itl_p95_alone_ms"], abs=0.01
    )
    assert close["holds"] and _embed_beside.criterion(close)[2]
    stalled = _embed_beside.summary(alone, [_stream([1.0] * 10 + [50.0] * 10)], embeds)
    assert stalled["ratio"] > 2 and not stalled["holds"]
    assert not _embed_beside.summary(alone, [_stream([1.0] * 20)], [])["holds"]  # no load
    failed = _embed_beside.summary(alone, [_stream([1.0] * 20)], [Outcome(500, 0.1, "boom")])
    assert failed["errors"] == 1 and not failed["holds"]
    assert "| alone |" in "\n".join(_embed_beside.markdown(close))
    # Fewer, larger events: the ITL looks better while each token takes four times as long.
    bunched = _embed_beside.summary(
        [_stream([1.0] * 20, tokens_per_event=5)], [_stream([0.8] * 100)], embeds
    )
    assert bunched["ratio"] < 1 and bunched["tpot_ratio"] > 2 and not bunched["holds"]


def test_streams_beside_embeddings_ban_the_models_end_of_generation_tokens() -> None:
    from reference_server.tiny_model import ensure_tiny_model

    assert _embed_beside.end_tokens(ensure_tiny_model()) == [2]  # the tiny model's </s>


def test_merge_takes_only_the_sections_not_run_now_and_the_doc_names_them() -> None:
    from pathlib import Path

    from benchmarks.reliability.__main__ import merged
    from benchmarks.reliability._render import _carried_over

    now = {"date": "2026-12-07", "sections": {"bad configuration": {"new": 1}}}
    earlier = {
        "date": "2026-11-30",
        "command": "python -m benchmarks.reliability",
        "sections": {"fuzz": {"old": 1}, "bad configuration": {"old": 2}},
    }
    result = merged(now, earlier, Path("old.json"))
    assert result["sections"] == {"fuzz": {"old": 1}, "bad configuration": {"new": 1}}
    assert result["carried_over"]["sections"] == ["fuzz"]
    line = _carried_over(result["carried_over"])[0]
    assert "2026-11-30" in line and "fuzz" in line and "bad configuration" not in line
    assert merged(now, {"sections": {}}, Path("x.json"))["carried_over"] is None
