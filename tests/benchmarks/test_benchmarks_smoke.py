"""The benchmark code, end to end with one tiny iteration on the reference server only.

No peer is installed or built here and nothing is measured seriously: this proves the harness
runs (server start, driver subprocess, library ceiling, results JSON, Markdown), not speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import _compat_render, _report, _stats
from benchmarks.compat import _trim

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_results_and_table(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    doc = tmp_path / "performance.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--smoke",
            "--runs",
            "1",
            "--peers",
            "ours",
            "--out",
            str(out),
            "--doc",
            str(doc),
            "--no-compat",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    ours = result["runs"][0]["ours"]
    assert ours["models_c2_rps"] > 0
    assert ours["one_token_errors"] == 0 and ours["one_token_p50_ms"] > 0
    assert ours["single_errors"] == 0 and ours["single_output_tokens"] >= 2
    assert ours["c2_requests"] >= 2 and ours["c2_errors"] == 0
    assert ours["embed_b2_inputs_s"] > 0
    assert result["runs"][0][_report.LIBRARY]["single_decode_tok_s"] > 0
    assert result["peers"]["ours"]["command"][0] == "python"
    text = doc.read_text()
    assert "<!-- bench:inferno-tiny:start -->" in text and "| ours |" in text


def test_ratios_read_bigger_is_worse() -> None:
    assert _stats.ratios({"a": 100.0, "b": 50.0}, "c4_agg_tok_s") == {"a": 1.0, "b": 2.0}
    assert _stats.ratios({"a": 10.0, "b": 30.0}, "c4_ttft_p50_ms") == {"a": 1.0, "b": 3.0}
    assert _stats.ratios({"a": None, "b": 5.0}, "embed_b1_inputs_s") == {"a": None, "b": 1.0}
    spread = _stats.across_runs([10.0, 12.0, 11.0])
    assert spread["median"] == 11.0 and round(spread["spread_pct"]) == 18


def test_summary_ranks_only_performance_metrics() -> None:
    runs = [
        {"x": {"c1_agg_tok_s": v, "c1_errors": 0}, "y": {"c1_agg_tok_s": 2 * v}} for v in (1, 2, 3)
    ]
    data = _report.summarise(runs)
    assert data["summary"]["x"]["c1_agg_tok_s"]["median"] == 2
    assert data["ratios"]["c1_agg_tok_s"] == {"x": 2.0, "y": 1.0}
    assert "c1_errors" not in data["ratios"]


def test_compat_render_shows_matrix_and_deviation_with_request() -> None:
    base = "http://127.0.0.1:45678/v1"
    report = {
        "score": 50.0,
        "matrix": {"models": {"passed": 1, "failed": 1, "skipped": 0, "known": 0}},
        "results": [
            {"test_id": "test_models.py::test_list_models", "area": "models", "outcome": "passed"},
            {
                "test_id": "test_models.py::test_retrieve_unknown_model_is_404",
                "area": "models",
                "outcome": "failed",
                "reason": "boom",
                "details": {
                    "rule": "models.unknown.status",
                    "message": "expected 404, got 200",
                    "request": f"GET {base}/models/nope",
                    "status": 200,
                    "response": "{}",
                },
            },
        ],
        "server": {"server_header": "x"},
        "summary": {"checks_passed": 1, "checks_applicable": 2, "check_score": 50.0,
                    "weighted_score": 40.0, "deviations_by_severity": {"contract": 1}},
        "deviations": [
            {
                "rule": "errors.status",
                "severity": "contract",
                "cause": "answers 200 where OpenAI answers 404",
                "message": "expected 404, got 200",
                "checks": ["test_models.py::test_retrieve_unknown_model_is_404"],
                "clients": ["openai SDK"],
                "request": f"GET {base}/models/nope",
                "status": 200,
                "reproduce": f"curl {base}/models/nope",
            }
        ],
    }  # fmt: skip
    data = {
        "date": "2026-01-01",
        "preset": "extended",
        "machine": {"cores": 2, "cpu_model": "cpu"},
        "model": {"path_name": "m.gguf", "model_id": "m"},
        "peers": {"peer": {**_trim(report, base.removesuffix("/v1")), "versions": {"v": "1"}}},
    }
    text = _compat_render.render(data, source="compat.json")
    assert "| models | ❌ 1 / 1 / 0 |" in text
    assert "| **rules holding (weighted)** | **40.0%** |" in text
    assert "| contract | `errors.status` | answers 200 where OpenAI answers 404 |" in text
    assert "`test_retrieve_unknown_model_is_404`" in text and "openai SDK" in text
    assert "`GET /v1/models/nope`" in text and "45678" not in text


def test_batching_peers_get_the_same_sequences_context_batch_and_threads() -> None:
    from benchmarks import _peers

    launch = _peers.Launch(Path("/models/m.gguf"), "m", 2048, 2, 9000, parallel=8, n_batch=256)
    ours = _peers._ours().command(launch, "gen")

    def flag(name: str) -> str:
        return ours[ours.index(name) + 1]

    assert (flag("--n-ctx"), flag("--parallel"), flag("--n-batch")) == ("2048", "8", "256")
    assert flag("--threads") == "2"
    config = _peers.batched_config(launch, "gen")["model"]
    # A unified cache of sequences x context cells, as the reference server allocates.
    assert config["n_ctx"] == 2048 * 8 and config["n_seq_max"] == 8 and config["kv_unified"]
    assert config["n_batch"] == config["n_ubatch"] == 256
    assert config["threads"] == config["threads_batch"] == 2
    assert config["embedding"] is False
    embed = _peers.batched_config(launch, "embed")["model"]
    assert embed["embedding"] is True and embed["pooling_type"] == 1


def test_ours_with_flags_is_a_peer_of_its_own() -> None:
    from benchmarks import _peers

    launch = _peers.Launch(Path("/models/m.gguf"), "m", 2048, 2, 9000)
    variant = _peers.prepare("ours:--batch-invariant --prefill-chunk 64")
    assert variant.name == "ours --batch-invariant --prefill-chunk 64"
    command = variant.command(launch, "gen")
    assert command == [*_peers._ours().command(launch, "gen"), *variant.name.split()[1:]]


def test_memory_benchmark_reports_rss_of_a_loaded_server() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--model", "tiny", "--parallel", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    row = done.stdout.strip().splitlines()[-1]
    ready, served, peak, prompts = (cell.strip() for cell in row.strip("|").split("|"))
    figures = [float(cell.removesuffix(" MiB").replace(",", "")) for cell in (ready, served, peak)]
    assert all(f > 10 for f in figures), row  # a Python process with llama.cpp loaded
    assert figures[2] >= figures[1], "the peak is below the current RSS"
    assert prompts.endswith("× 2"), prompts


def _costs(tmp_path: Path, *argv: str) -> tuple[str, dict[str, Any]]:
    """`python -m benchmarks.costs` on the tiny model, one round: its output and results."""
    out = tmp_path / "costs.json"
    one_round = ["--model", "tiny", "--rounds", "1", "--tokens", "8"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.costs", *one_round, *argv, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_costs_run_measures_every_variant_and_checks_determinism(tmp_path: Path) -> None:
    stdout, result = _costs(tmp_path, "--duration", "0.3", "--prefill", "0,16")
    variants = result["variants"]
    assert len(variants) == 7, list(variants)
    for name, (run,) in variants.items():
        assert run["c1"]["tok_s"] > 0 and run["c8"]["tok_s"] > 0, name
        assert run["c8"]["ttft_p95_ms"] > 0, name
    http = variants["HTTP (server defaults)"][0]
    assert http["models_rps"] > 0 and http["one_token_p50_ms"] > 0 and not http["errors"]
    # With every determinism cost paid, the engine keeps its promise on the tiny model.
    assert variants["every cost paid"][0]["checks"] == {"repeat": True, "batch": True}
    assert list(result["idle_caches"]) == ["plain attention", "flash attention"]
    for (idle,) in result["idle_caches"].values():
        assert all(idle[s] > 0 for s in ("empty", "short_idle_caches", "long_idle_caches"))
    for budget in ("0", "16"):
        (prefill,) = result["prefill"][budget]
        assert prefill["itl_p95_before_ms"] > 0 and prefill["itl_p95_during_ms"] > 0
        assert prefill["long_prompt_tokens"] > 100 and prefill["long_prompt_ttft_ms"] > 0
    assert (
        "| every cost paid |" in stdout
        and "| 16 |" in stdout
        and "| measured (default) |" in stdout
        and "7 long idle caches |" in stdout
    )


def test_costs_run_of_one_workload_leaves_out_the_others(tmp_path: Path) -> None:
    stdout, result = _costs(tmp_path, "--only", "idle")
    assert (result["variants"], result["prefill"]) == ({}, {})
    assert [len(runs) for runs in result["idle_caches"].values()] == [1, 1]
    assert "| flash attention |" in stdout and "| every cost paid |" not in stdout
