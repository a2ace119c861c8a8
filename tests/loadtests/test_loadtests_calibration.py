"""The calibration benchmark's arithmetic on fixed numbers: the truth it measures against, and
how it reads the other tools' exports."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from benchmarks.calibration import TOKENS, Truth, span_share
from benchmarks.calibration_peers import PEERS, PROMPT, find_stat, write_prompt_tokenizer
from tests.loadtests.sse_fixture import FixtureServer


def test_a_span_counts_by_its_share_of_the_window() -> None:
    assert span_share([1.0, 3.0], 0.0, 10.0, 2.0) == 1.0
    assert span_share([9.0, 11.0], 0.0, 10.0, 2.0) == pytest.approx(0.5)
    assert span_share([-1.0, 1.0], 0.0, 10.0, 2.0) == pytest.approx(0.5)
    assert span_share([10.5, 11.0], 0.0, 10.0, 2.0) == 0.0
    # Cut off by the end: its elapsed time as a share of the mean request.
    assert span_share([9.5, None], 0.0, 10.0, 2.0) == pytest.approx(0.25)
    assert span_share([11.0, None], 0.0, 10.0, 2.0) == 0.0


def test_the_truth_of_a_request_follows_from_the_mock_delays() -> None:
    truth = Truth(ttft_ms=500.0, itl_ms=50.0, tokens_per_s=0.0, requests_per_s=1.0)
    assert truth.e2e_ms == 500.0 + (TOKENS - 1) * 50.0
    metrics = truth.as_metrics()
    assert metrics["TPOT ms (mean)"] == metrics["ITL ms (mean)"] == 50.0
    assert metrics["requests/s"] == 1.0


def test_peer_exports_are_read_by_metric_name() -> None:
    guidellm = {"benchmarks": [{"metrics": {
        "time_to_first_token_ms": {"successful": {"mean": 501.0, "median": 500.0}},
        "inter_token_latency_ms": {"successful": {"mean": 50.2}},
        "request_latency": {"successful": {"mean": 2.06}},
    }}]}  # fmt: skip
    aiperf = {"records": {"inter_token_latency": {"avg": 50.1, "unit": "ms"}}}
    assert find_stat(guidellm, ("time_to_first_token_ms",), ("mean",)) == 501.0
    assert find_stat(guidellm, ("request_latency",), ("mean",)) == 2.06
    assert find_stat(aiperf, ("inter_token_latency",), ("avg", "mean")) == 50.1
    assert find_stat(aiperf, ("output_token_throughput",), ("avg",)) is None
    # Their per-request ITL is our TPOT; GuideLLM's request latency is in seconds.
    fields = {peer.name: peer.fields for peer in PEERS}
    assert fields["guidellm"]["TPOT ms (mean)"] == (("inter_token_latency_ms",), 1.0)
    assert fields["guidellm"]["E2E ms (mean)"][1] == 1000.0
    assert fields["aiperf"]["TPOT ms (mean)"][0] == ("inter_token_latency",)


def test_the_mock_answers_content_parts_and_a_health_check_as_guidellm_sends_them() -> None:
    with FixtureServer(first_token_s=0.0, itl_s=0.0, tokens=4) as server:
        health = httpx.get(server.base_url + "/health", timeout=10)
        message = {"role": "user", "content": [{"type": "text", "text": "delay please"}]}
        body = {"model": "fixture", "messages": [message], "stream": True}
        answer = httpx.post(server.base_url + "/v1/chat/completions", json=body, timeout=10)
    assert health.status_code == 200
    assert answer.status_code == 200 and answer.text.rstrip().endswith("data: [DONE]")


def test_aiperf_gets_a_tokenizer_folder_of_the_prompt_word_when_none_is_given(
    tmp_path: Path,
) -> None:
    aiperf = next(peer for peer in PEERS if peer.name == "aiperf")
    command = aiperf.command("aiperf", "http://127.0.0.1:1", 8, 30.0, tmp_path, "")
    assert command is not None
    folder = Path(command[command.index("--tokenizer") + 1])
    assert folder == tmp_path / "tokenizer"
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    model = tokenizer["model"]
    assert model["type"] == "WordLevel" and model["vocab"][PROMPT] == 1
    assert model["vocab"][model["unk_token"]] == 0
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    # A folder given on the command line is used as it is.
    given = aiperf.command("aiperf", "http://127.0.0.1:1", 8, 30.0, tmp_path, "/my/tokenizer")
    assert given is not None and given[given.index("--tokenizer") + 1] == "/my/tokenizer"
    assert write_prompt_tokenizer(tmp_path / "again") == tmp_path / "again"
