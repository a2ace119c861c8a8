"""GET /health, /metrics and /openapi.json."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

import specs
from inferno.launcher import ReadyProbe, reference_server_process
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    HELLO,
    MODEL,
    chat_body,
    client,
    completion_body,
    error_body,
    json_body,
    metric,
    scrape,
    sdk_client,
    sse_chunks,
    wait_idle,
)

REQUESTS = "inferno_requests_total"
PROMPT = "inferno_prompt_tokens_total"
COMPLETION = "inferno_completion_tokens_total"
TTFT_COUNT = "inferno_time_to_first_token_seconds_count"


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def test_health_is_ok_when_ready(http: httpx.Client) -> None:
    body = json_body(http.get("/health"), "getHealth")
    assert body["status"] == "ok"


def test_openapi_json_is_our_spec(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads(json.dumps(specs.load_spec()))


def test_metrics_exposes_every_documented_family(http: httpx.Client) -> None:
    http.post(CHAT, json=chat_body(max_tokens=2))  # so per-model series exist
    names = {name for name, _ in scrape(http)}
    for family in (REQUESTS, PROMPT, COMPLETION, "inferno_queue_depth"):
        assert family in names, sorted(names)
    assert {
        "inferno_time_to_first_token_seconds_bucket",
        "inferno_time_to_first_token_seconds_sum",
        TTFT_COUNT,
    } <= names


def test_metrics_expose_the_engine_families(http: httpx.Client) -> None:
    wait_idle(http)
    before = scrape(http)
    body = json_body(http.post(CHAT, json=chat_body(max_tokens=5)), "createChatCompletion")
    after = scrape(http)
    busy = metric(after, "inferno_sequences", model=MODEL, state="busy")
    idle = metric(after, "inferno_sequences", model=MODEL, state="idle")
    assert (busy, idle) == (0, 4)  # the default --parallel, all idle again
    steps = metric(after, "inferno_decode_steps_total", model=MODEL)
    # The four tokens after the first each took a step; the first took one more unless an
    # earlier request left this whole prompt cached (its first token needs no step then).
    evaluated = metric(after, "inferno_prompt_tokens_evaluated_total", model=MODEL) - metric(
        before, "inferno_prompt_tokens_evaluated_total", model=MODEL
    )
    stepped = steps - metric(before, "inferno_decode_steps_total", model=MODEL)
    assert stepped >= (5 if evaluated else 4), (stepped, evaluated)
    # Every prompt token was either decoded or found in the cache.
    moved = sum(
        metric(after, name, model=MODEL) - metric(before, name, model=MODEL)
        for name in ("inferno_prompt_tokens_evaluated_total", "inferno_prompt_tokens_reused_total")
    )
    assert moved == body["usage"]["prompt_tokens"]
    # The tokens-per-step histogram counts every step once, in cumulative buckets.
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in after.items()
        if name == "inferno_batch_tokens_bucket"
    )
    counts = [value for _, value in buckets]
    assert counts == sorted(counts) and counts[-1] == steps
    assert metric(after, "inferno_batch_tokens_count", model=MODEL) == steps


def test_chat_request_moves_the_counters_by_its_usage(http: httpx.Client) -> None:
    wait_idle(http)
    before = scrape(http)
    body = json_body(http.post(CHAT, json=chat_body(max_tokens=5)), "createChatCompletion")
    after = scrape(http)
    usage = body["usage"]
    route = {"route": CHAT, "status": "200"}
    assert metric(after, REQUESTS, **route) == metric(before, REQUESTS, **route) + 1
    assert (
        metric(after, PROMPT, model=MODEL) - metric(before, PROMPT, model=MODEL)
        == (usage["prompt_tokens"])
    )
    assert (
        metric(after, COMPLETION, model=MODEL) - metric(before, COMPLETION, model=MODEL)
        == (usage["completion_tokens"])
    )
    assert metric(after, TTFT_COUNT, model=MODEL) == metric(before, TTFT_COUNT, model=MODEL) + 1


def test_streamed_request_moves_the_counters_by_its_usage(http: httpx.Client) -> None:
    wait_idle(http)
    before = scrape(http)
    options = {"include_usage": True}
    response = http.post(COMPLETIONS, json=completion_body(stream=True, stream_options=options))
    usage = sse_chunks(response, "createCompletion")[-1]["usage"]
    after = scrape(http)
    route = {"route": COMPLETIONS, "status": "200"}
    assert metric(after, REQUESTS, **route) == metric(before, REQUESTS, **route) + 1
    assert (
        metric(after, PROMPT, model=MODEL) - metric(before, PROMPT, model=MODEL)
        == (usage["prompt_tokens"])
    )
    assert (
        metric(after, COMPLETION, model=MODEL) - metric(before, COMPLETION, model=MODEL)
        == (usage["completion_tokens"])
    )


def test_embeddings_count_prompt_tokens(http: httpx.Client) -> None:
    wait_idle(http)
    before = scrape(http)
    body = json_body(
        http.post(EMBEDDINGS, json={"model": MODEL, "input": ["one", "two three"]}),
        "createEmbedding",
    )
    after = scrape(http)
    assert (
        metric(after, PROMPT, model=MODEL) - metric(before, PROMPT, model=MODEL)
        == (body["usage"]["prompt_tokens"])
    )
    route = {"route": EMBEDDINGS, "status": "200"}
    assert metric(after, REQUESTS, **route) == metric(before, REQUESTS, **route) + 1


def test_failed_requests_are_counted_by_status(http: httpx.Client) -> None:
    wait_idle(http)
    before = scrape(http)
    error_body(http.post(CHAT, json=chat_body(temperature=3)), 400, "createChatCompletion")
    error_body(http.post(CHAT, json=chat_body(model="no-such-model")), 404, "createChatCompletion")
    after = scrape(http)
    for status in ("400", "404"):
        labels = {"route": CHAT, "status": status}
        assert metric(after, REQUESTS, **labels) == metric(before, REQUESTS, **labels) + 1


def test_idle_server_has_an_empty_queue(http: httpx.Client) -> None:
    samples = scrape(http)
    assert ("inferno_queue_depth", frozenset({("model", MODEL)})) in samples
    assert metric(samples, "inferno_queue_depth", model=MODEL) == 0


@pytest.fixture(scope="module")
def half_broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder: Path = tmp_path_factory.mktemp("broken")
    (folder / "broken.gguf").write_bytes(b"not a gguf file")
    config = folder / "models.yaml"
    config.write_text(
        f"models:\n  - id: good\n    path: tiny\n  - id: broken\n    path: {folder}/broken.gguf\n",
        encoding="utf-8",
    )
    # Up but never ready (/health stays 503): startup waits for /v1/models instead.
    server = reference_server_process(
        ["--config", str(config)], probe=ReadyProbe("GET", "/v1/models")
    )
    with server, client(server.base_url) as c:
        yield c


def _settled_health(http: httpx.Client) -> httpx.Response:
    """/health once the good model has loaded (the broken one never will)."""
    for _ in range(100):
        response = http.get("/health")
        models = response.json().get("models", {})
        if models.get("good", {}).get("state") == "ready":
            return response
        time.sleep(0.1)
    raise AssertionError(f"good model never loaded: {response.text}")


def test_health_is_503_while_a_model_is_not_ready(half_broken: httpx.Client) -> None:
    body = json_body(_settled_health(half_broken), "getHealth", 503)
    assert body["status"] != "ok"


def test_other_models_keep_serving_beside_a_broken_one(half_broken: httpx.Client) -> None:
    _settled_health(half_broken)
    good = half_broken.post(CHAT, json=chat_body(model="good", max_tokens=2))
    assert json_body(good, "createChatCompletion")["model"] == "good"
    broken = half_broken.post(CHAT, json=chat_body(model="broken", max_tokens=2))
    error_body(broken, 503, "createChatCompletion")
    sdk = sdk_client(half_broken.base_url)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="broken", messages=HELLO, max_tokens=2)
    error_body(caught.value.response, 503, "createChatCompletion")


def test_a_model_that_failed_to_load_is_not_reported_as_loading(half_broken: httpx.Client) -> None:
    body = _settled_health(half_broken).json()
    assert body["models"]["broken"]["state"] == "failed"
    assert body["status"] != "loading"
    broken = half_broken.post(CHAT, json=chat_body(model="broken", max_tokens=2))
    assert broken.json()["error"]["code"] != "model_loading"
