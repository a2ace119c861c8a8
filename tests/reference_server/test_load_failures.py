"""A model that fails to load: a server of that model alone exits 1 with llama.cpp's reason; beside
other models it is logged, shown in /health, left out of /v1/models, and requests naming it get
a 503 with the reason, never a 404."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferno.launcher import ReadyProbe, ServerProcess, reference_server_process
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    chat_body,
    client,
    completion_body,
    error_body,
    json_body,
)

# What llama.cpp's loader says about a file that does not start with the GGUF magic.
LOADER_REASON = "expected 'GGUF'"
EXIT_TIMEOUT_S = 120


def not_a_model(folder: Path) -> Path:
    path = folder / "notes.gguf"
    path.write_text("hello, this is a text file\n", encoding="utf-8")
    return path


def test_a_server_whose_only_model_fails_to_load_exits_1_with_the_reason(tmp_path: Path) -> None:
    model = str(not_a_model(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "reference_server", "serve", "--port", "0", "--model", model],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr
    reason = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert reason, done.stderr
    assert "model 'notes' failed to load" in reason[0] and LOADER_REASON in reason[0], reason


@pytest.fixture(scope="module")
def half_loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder: Path = tmp_path_factory.mktemp("load-failures")
    config = folder / "models.yaml"
    config.write_text(
        f"models:\n  - id: good\n    path: tiny\n  - id: broken\n    path: {not_a_model(folder)}\n",
        encoding="utf-8",
    )
    # /health stays 503 (a model failed): /v1/models tells that the server is up.
    with reference_server_process(
        ["--config", str(config)], probe=ReadyProbe("GET", "/v1/models")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def http(half_loaded: ServerProcess) -> Iterator[httpx.Client]:
    with client(half_loaded.base_url) as c:
        settle(c)
        yield c


def settle(http: httpx.Client, timeout_s: float = 60.0) -> dict:
    """/health once every model has either loaded or failed."""
    deadline = time.monotonic() + timeout_s
    body: dict = {}
    while time.monotonic() < deadline:
        body = http.get("/health").json()
        states = {m["state"] for m in body.get("models", {}).values()}
        if "loading" not in states:
            return body
        time.sleep(0.1)
    raise AssertionError(f"models still loading after {timeout_s} s: {body}")


def test_health_names_the_failed_model_and_the_reason(http: httpx.Client) -> None:
    body = json_body(http.get("/health"), "getHealth", 503)
    assert body["status"] == "failed"
    broken = body["models"]["broken"]
    assert broken["state"] == "failed" and LOADER_REASON in broken["error"], broken
    assert body["models"]["good"]["state"] == "ready"
    assert "error" not in body["models"]["good"]


def test_the_failed_model_is_left_out_of_the_model_list(http: httpx.Client) -> None:
    body = json_body(http.get("/v1/models"), "listModels")
    assert [m["id"] for m in body["data"]] == ["good"]


@pytest.mark.parametrize(
    ("method", "path", "body", "operation"),
    [
        ("POST", CHAT, chat_body(model="broken", max_tokens=2), "createChatCompletion"),
        ("POST", COMPLETIONS, completion_body(model="broken", max_tokens=2), "createCompletion"),
        ("POST", EMBEDDINGS, {"model": "broken", "input": "hi"}, "createEmbedding"),
        ("POST", "/v1/responses", {"model": "broken", "input": "hi"}, "createResponse"),
        ("GET", "/v1/models/broken", None, "retrieveModel"),
    ],
    ids=["chat", "completions", "embeddings", "responses", "retrieve"],
)
def test_requests_naming_the_failed_model_get_503_with_the_reason(
    http: httpx.Client, method: str, path: str, body: dict | None, operation: str
) -> None:
    response = http.request(method, path, json=body)
    error = error_body(response, 503, operation, code="model_unavailable", param="model")
    assert set(error) == {"message", "type", "param", "code"}
    assert "'broken' failed to load" in error["message"], error
    assert LOADER_REASON in error["message"], error
    assert "does not exist" not in error["message"]


def test_the_other_model_keeps_serving(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body(model="good", max_tokens=2))
    assert json_body(response, "createChatCompletion")["model"] == "good"
    unknown = http.post(CHAT, json=chat_body(model="never-configured", max_tokens=2))
    error_body(unknown, 404, "createChatCompletion", code="model_not_found")


def test_the_failure_is_logged_at_error_with_the_reason(
    half_loaded: ServerProcess, http: httpx.Client
) -> None:
    lines = [line for line in half_loaded.log(20_000).splitlines() if "'broken'" in line]
    assert any(line.startswith("ERROR ") and LOADER_REASON in line for line in lines), lines
    assert "Traceback" not in half_loaded.log(20_000)
