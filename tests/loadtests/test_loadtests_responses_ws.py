"""WebSocketResponsesUser against the reference server: its turns and tokens must agree with the
server's own counts, and its timings are those of StreamingResponsesUser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from locust_runner import run_locust

pytestmark = pytest.mark.slow  # Locust subprocess runs

_SAMPLE = re.compile(r"^(\w+)\{(.*)\}\s+([0-9.eE+-]+)$")
ROUTE = 'route="/v1/responses"'


def finished_turns_and_tokens(base_url: str) -> tuple[float, float]:
    """Requests of the /v1/responses route that ended (any outcome), and completion tokens."""
    finished = tokens = 0.0
    for line in httpx.get(base_url + "/metrics", timeout=10).text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        if name == "inferno_requests_finished_total" and ROUTE in labels:
            finished += float(value)
        elif name == "inferno_completion_tokens_total":
            tokens += float(value)
    return finished, tokens


@pytest.mark.parametrize(
    "schedule",
    [
        (),  # closed loop: one connection per user, turns one after another
        ("--arrival", "poisson", "--rate", "4", "--seed", "3"),  # a connection per arrival
    ],
)
def test_turns_and_tokens_match_the_server(
    warm_reference_server: Any, tmp_path: Path, schedule: tuple[str, ...]
) -> None:
    base_url = warm_reference_server.base_url
    before = finished_turns_and_tokens(base_url)
    run = run_locust(
        base_url + "/v1",
        "WebSocketResponsesUser", *schedule,
        "-u", "2", "-r", "2", "-t", "3", "--max-tokens", "8",
        summary=tmp_path / "s.json",
        timeout=90,
    )  # fmt: skip
    after = finished_turns_and_tokens(base_url)
    assert run.returncode == 0, run.output[-3000:]
    summary = run.summary
    counts = summary["by_name"]["responses.ws"]
    assert counts["ok"] > 0 and counts["errors"] == 0 and counts["shed"] == 0, summary
    assert summary["user_classes"] == ["WebSocketResponsesUser"]
    # Every turn is one request of the route, ended on the server as the client saw it end.
    assert after[0] - before[0] == counts["ok"]
    assert summary["tokens"]["output"] == after[1] - before[1]
    assert summary["tokens"]["responses_estimated"] == 0  # usage came in the terminal event
    metrics = summary["metrics"]
    assert metrics["ttft_ms"]["count"] == counts["ok"]
    assert metrics["e2e_ms"]["count"] == counts["ok"]
    assert metrics["ttft_ms"]["p50"] <= metrics["e2e_ms"]["p50"]
