"""SLO parsing and checks, shape timelines, shed back-off, the sample reservoir, prompt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests._datasets import load_prompts
from loadtests._prompts import builtin_prompts
from loadtests._recorder import METRICS, Counts, Reservoir
from loadtests._shapes import Constant, Ramp, ShapeParams, Spike, Sweep, SweepParams
from loadtests._shed import shed_backoff_s
from loadtests._slo import check, parse_slo
from loadtests._summary import format_table, view


def make_view(ttft: list[float], ok: int = 10, errors: int = 0, shed: int = 0) -> dict:
    counts = Counts(ok=ok, errors=errors, shed=shed, output_tokens=ok * 10)
    metrics = {m: Reservoir() for m in METRICS}
    metrics["ttft_ms"].extend(ttft)
    return view(counts, metrics, duration_s=10.0)


def test_parse_slo() -> None:
    spec = parse_slo(" ttft_p95_ms=500, error_rate=0.01,min_output_tok_s=5 ")
    assert spec == {"ttft_p95_ms": 500.0, "error_rate": 0.01, "min_output_tok_s": 5.0}
    with pytest.raises(ValueError, match="unknown SLO"):
        parse_slo("latency=3")
    with pytest.raises(ValueError, match="not a number"):
        parse_slo("ttft_p95_ms=fast")


def test_check_lists_each_violation() -> None:
    v = make_view([100.0] * 19 + [900.0], ok=10, errors=1)
    violations = check(parse_slo("ttft_p50_ms=200,ttft_p99_ms=300,error_rate=0.05"), v)
    assert [x.split(":")[0] for x in violations] == ["ttft_p99_ms", "error_rate"]
    # 10 ok requests x 10 tokens in 10 s = 10 output tok/s.
    assert check(parse_slo("min_output_tok_s=20"), v) == ["min_output_tok_s: 10 < 20"]
    assert check(parse_slo("min_output_tok_s=5"), v) == []
    # A sweep step is judged on latency and errors only.
    assert check(parse_slo("min_output_tok_s=20"), v, throughput=False) == []


def test_gate_without_samples_fails() -> None:
    assert check(parse_slo("itl_p95_ms=50"), make_view([]))[0].startswith("itl_p95_ms: no samples")


def test_shed_is_not_an_error() -> None:
    v = make_view([1.0], ok=9, errors=1, shed=10)
    assert v["requests"]["error_rate"] == pytest.approx(0.1)
    assert v["requests"]["shed_rate"] == pytest.approx(0.5)


def test_constant_ramp_spike_timelines() -> None:
    p = ShapeParams(users=8, spawn_rate=2, run_time=10)
    assert Constant(p).tick(0) == (8, 2) and Constant(p).tick(10) is None
    ramp = Ramp(p)
    assert [ramp.tick(t)[0] for t in (0, 2.5, 5, 9.9)] == [1, 2, 4, 8]
    assert ramp.tick(10) is None
    spike = Spike(p)
    assert [spike.tick(t)[0] for t in (1, 4, 5.9, 6, 9)] == [2, 8, 8, 2, 2]


def test_sweep_stops_at_the_first_breaking_step() -> None:
    # Step views: TTFT grows with users; the SLO allows 250 ms.
    levels: list[int] = []
    sweep: Sweep

    def read() -> dict:
        return make_view([100.0 * sweep.users] * 5)

    sweep = Sweep(
        ShapeParams(users=16, spawn_rate=1, run_time=None),
        SweepParams(start=1, step=0, step_time=2, settle=0.5),
        reset_window=lambda: None,
        read_window=read,
        judge=lambda v: check(parse_slo("ttft_p95_ms=250"), v, throughput=False),
    )
    for t in range(40):  # bounded: the sweep must finish well within this
        tick = sweep.tick(float(t))
        if tick is None:
            break
        levels.append(tick[0])
    assert sorted(set(levels)) == [1, 2, 4]
    report = sweep.report()
    assert [s["users"] for s in report["steps"]] == [1, 2, 4]
    assert report["saturation"]["users"] == 2
    assert not report["steps"][-1]["passed"]


def test_shed_backoff_follows_retry_after_within_the_cap() -> None:
    assert shed_backoff_s("2", cap=30) == 2
    assert shed_backoff_s("999", cap=30) == 30
    assert shed_backoff_s(None, cap=30) == 1.0
    assert shed_backoff_s("garbage", cap=30) == 1.0
    assert shed_backoff_s("Wed, 21 Oct 2015 07:28:00 GMT", cap=30) == 0.0  # in the past


def test_bounded_reservoir() -> None:
    res = Reservoir(cap=100)
    res.extend([float(i) for i in range(10_000)])
    assert len(res.values) == 100 and res.count == 10_000 and res.max == 9999.0


def test_prompt_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    lines = [{"prompt": "a"}, {"messages": [{"role": "user", "content": "b"}], "max_tokens": 5}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    prompts = load_prompts(path)
    assert [p.text for p in prompts] == ["a", "b"] and prompts[1].max_tokens == 5
    assert len(builtin_prompts()) >= 5
    path.write_text('{"nothing": 1}\n')
    with pytest.raises(ValueError, match="needs 'prompt'"):
        load_prompts(path)  # more file formats: test_loadtests_datasets.py


def test_table_renders() -> None:
    summary = make_view([100.0, 200.0])
    summary.update({"shape": {"name": "constant"}, "model": "m"})
    assert "TTFT ms" in format_table(summary)
