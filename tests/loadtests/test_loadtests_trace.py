"""`--trace`: reading Mooncake-style JSONL and BurstGPT-style CSV, made-up prompts that share
blocks as the trace says, the split over processes, and a replay against the fixture server."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from locust_runner import run_locust
from sse_fixture import FixtureServer

from loadtests._trace import BLOCK_TOKENS, load_trace, trace_prompt, trace_schedule

MOONCAKE = [
    {"timestamp": 1200, "input_length": 600, "output_length": 7, "hash_ids": [1, 2]},
    {"timestamp": 200, "input_length": 700, "output_length": 5, "hash_ids": [1, 3],
     "session_id": "a"},
    {"timestamp": 700, "input_length": 30, "output_length": 3, "session_id": "a"},
    {"timestamp": 900, "input_length": 4, "output_length": 2, "prompt": "delay now"},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_mooncake_jsonl_is_read_in_time_order(tmp_path: Path) -> None:
    entries = load_trace(write_jsonl(tmp_path / "t.jsonl", MOONCAKE))
    assert [e.at_s for e in entries] == pytest.approx([0.0, 0.5, 0.7, 1.0])
    assert [e.output_tokens for e in entries] == [5, 3, 2, 7]
    sessions = [(e.session, e.turn) for e in entries]
    assert sessions == [("a", 1), ("a", 2), (None, None), (None, None)]
    assert entries[0].hash_ids == (1, 3) and entries[2].prompt == "delay now"


def test_burstgpt_csv_skips_failed_requests(tmp_path: Path) -> None:
    path = tmp_path / "burst.csv"
    path.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,100,20,120,Conversation log\n"
        "7.5,ChatGPT,50,0,50,Conversation log\n"
        "8,GPT-4,10,4,14,API log\n"
    )
    entries = load_trace(path)
    assert [(e.at_s, e.input_tokens, e.output_tokens) for e in entries] == [
        (0.0, 100, 20),
        (3.0, 10, 4),
    ]


def test_bad_traces_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        load_trace(write_jsonl(tmp_path / "a.jsonl", [{"input_length": 3}]))
    with pytest.raises(ValueError, match="no requests"):
        load_trace(write_jsonl(tmp_path / "b.jsonl", []))


def test_shared_blocks_give_shared_prefixes_and_the_seed_fixes_the_text(tmp_path: Path) -> None:
    entries = load_trace(write_jsonl(tmp_path / "t.jsonl", MOONCAKE))
    first, last = trace_prompt(entries[0], 1).text, trace_prompt(entries[3], 1).text
    block = " ".join(first.split()[:BLOCK_TOKENS])
    assert last.startswith(block + " ")  # both start with block 1
    assert first.split()[BLOCK_TOKENS:] != last.split()[BLOCK_TOKENS:600]
    assert len(first.split()) == 700 and len(last.split()) == 600
    assert trace_prompt(entries[0], 1) == trace_prompt(entries[0], 1)
    assert trace_prompt(entries[0], 2).text != first
    assert trace_prompt(entries[2], 1).text == "delay now"
    assert trace_prompt(entries[0], 1).max_tokens == 5


def test_processes_split_the_trace_and_keep_its_times(tmp_path: Path) -> None:
    entries = load_trace(write_jsonl(tmp_path / "t.jsonl", MOONCAKE))
    shares = [list(trace_schedule(entries, 2.0, index, 2)) for index in range(2)]
    assert [due for due, _ in shares[0]] == pytest.approx([0.0, 0.35])
    assert [due for due, _ in shares[1]] == pytest.approx([0.25, 0.5])
    assert len({e for share in shares for _, e in share}) == 4


@pytest.mark.slow
def test_a_trace_is_replayed_on_its_timestamps(
    fixture_server: FixtureServer, tmp_path: Path
) -> None:
    rows = [
        {"timestamp": t, "input_length": 3, "output_length": 4, "prompt": f"delay {i}",
         "session_id": "s" if i % 2 else None}
        for i, t in enumerate((0, 400, 800, 1500, 2000))
    ]  # fmt: skip
    fixture_server.forget()
    run = run_locust(
        fixture_server.base_url, "StreamingChatUser", "--trace",
        str(write_jsonl(tmp_path / "t.jsonl", rows)), "-t", "5", "--seed", "3",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    assert run.returncode == 0, run.output[-2000:]
    bodies = fixture_server.bodies
    assert [b["messages"][-1]["content"] for b in bodies] == [f"delay {i}" for i in range(5)]
    assert {b["max_tokens"] for b in bodies} == {4}
    times = fixture_server.arrivals
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Open loop on the trace's clock: the gaps are the trace's, not the answers' (0.38 s each).
    assert gaps == pytest.approx([0.4, 0.4, 0.7, 0.5], abs=0.15)
    assert run.summary["arrivals"]["process"] == "trace"
    assert set(run.summary["turns"]) == {"1", "2"}
