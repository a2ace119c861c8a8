"""Each user class against the reference server: the summary must agree with its /metrics."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from locust_runner import run_locust

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROUTES = {
    "chat": "/v1/chat/completions",
    "chat.stream": "/v1/chat/completions",
    "completions.stream": "/v1/completions",
    "embeddings": "/v1/embeddings",
    "conversation": "/v1/chat/completions",
    "responses.stream": "/v1/responses",
}
_SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})?\s+([0-9.eE+-]+)$")


def scrape(base_url: str) -> tuple[Counter[str], float, float]:
    """Requests per route (all statuses), completion and prompt token totals."""
    routes: Counter[str] = Counter()
    completion = prompt = 0.0
    for line in httpx.get(base_url + "/metrics", timeout=10).text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
        if name == "inferno_requests_total":
            route = re.search(r'route="([^"]*)"', labels)
            routes[route.group(1) if route else ""] += int(value)
        elif name == "inferno_completion_tokens_total":
            completion += value
        elif name == "inferno_prompt_tokens_total":
            prompt += value
    return routes, completion, prompt


def assert_matches_server(summary: dict[str, Any], before: tuple, after: tuple) -> None:
    routes_delta = after[0] - before[0]
    ours: Counter[str] = Counter()
    for name, counts in summary["by_name"].items():
        ours[ROUTES[name]] += counts["ok"] + counts["errors"] + counts["shed"]
    for route, count in ours.items():
        assert routes_delta[route] == count, (route, routes_delta, summary["by_name"])
    assert summary["tokens"]["output"] == after[1] - before[1]
    assert summary["tokens"]["prompt"] == after[2] - before[2]


@pytest.mark.parametrize(
    "user_class",
    [
        "ChatUser",
        "StreamingChatUser",
        "CompletionUser",
        "EmbeddingUser",
        "StreamingResponsesUser",
        None,
    ],
)
def test_user_class_matches_server_metrics(
    warm_reference_server: Any, tmp_path: Path, user_class: str | None
) -> None:
    before = scrape(warm_reference_server.base_url)
    classes = [user_class] if user_class else []  # None: the default weighted mix
    run = run_locust(
        warm_reference_server.base_url,
        *classes,
        "-u", "2", "-r", "2", "-t", "3", "--max-tokens", "8",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    after = scrape(warm_reference_server.base_url)
    assert run.returncode == 0, run.output[-3000:]
    summary = run.summary
    assert summary["requests"]["ok"] > 0 and summary["requests"]["errors"] == 0, summary
    assert summary["user_classes"] == [user_class or "MixedUser"]
    assert summary["model"] == "inferno-tiny"  # discovered from /v1/models
    assert_matches_server(summary, before, after)
    if user_class in ("StreamingChatUser", "CompletionUser", "StreamingResponsesUser"):
        assert summary["metrics"]["ttft_ms"]["count"] > 0
        assert summary["tokens"]["responses_estimated"] == 0  # usage came with the stream


def test_processes_2_aggregates_workers(warm_reference_server: Any, tmp_path: Path) -> None:
    before = scrape(warm_reference_server.base_url)
    run = run_locust(
        warm_reference_server.base_url,
        "StreamingChatUser",
        "--processes", "2", "-u", "4", "-r", "4", "-t", "3", "--max-tokens", "8",
        summary=tmp_path / "s.json",
        timeout=90,
    )  # fmt: skip
    after = scrape(warm_reference_server.base_url)
    assert run.returncode == 0, run.output[-3000:]
    assert run.summary["worker_reports"] >= 2
    assert run.summary["requests"]["ok"] > 0
    assert_matches_server(run.summary, before, after)


@pytest.mark.parametrize("processes", [1, 2])
def test_open_loop_matches_server_metrics(
    warm_reference_server: Any, tmp_path: Path, processes: int
) -> None:
    before = scrape(warm_reference_server.base_url)
    extra = ["--processes", str(processes)] if processes > 1 else []
    run = run_locust(
        warm_reference_server.base_url,
        "StreamingChatUser", *extra,
        "--arrival", "poisson", "--rate", "4", "--seed", "2", "-t", "4", "--max-tokens", "8",
        summary=tmp_path / "s.json",
        timeout=90,
    )  # fmt: skip
    after = scrape(warm_reference_server.base_url)
    assert run.returncode == 0, run.output[-3000:]
    arrivals, requests = run.summary["arrivals"], run.summary["requests"]
    assert arrivals["sent"] == requests["total"] > 0 and arrivals["dropped"] == 0
    assert_matches_server(run.summary, before, after)


def test_conversations_grow_their_prompts(warm_reference_server: Any, tmp_path: Path) -> None:
    before = scrape(warm_reference_server.base_url)
    run = run_locust(
        warm_reference_server.base_url,
        "ConversationUser",
        "-u", "2", "-r", "2", "-t", "4", "--turns", "3", "--max-tokens", "8",
        "--shared-prefix-tokens", "40",
        summary=tmp_path / "s.json",
    )  # fmt: skip
    after = scrape(warm_reference_server.base_url)
    assert run.returncode == 0, run.output[-3000:]
    assert_matches_server(run.summary, before, after)
    turns = run.summary["turns"]
    assert set(turns) == {"1", "2", "3"}
    prompt = [turns[n]["prompt_tokens_per_request"] for n in "123"]
    assert 40 <= prompt[0] < prompt[1] < prompt[2]  # the prefix, then the history
    cache = run.summary["cache"]
    if cache["responses_reporting"]:  # servers with a prompt cache report what it saved
        assert cache["cached_tokens"] <= run.summary["tokens"]["prompt"]
    else:
        assert "reported no usage.prompt_tokens_details.cached_tokens" in run.output
