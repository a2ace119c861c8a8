"""The engine thread failing, against real server processes: a failure outside a decode step's
own error handling answers every request in flight with the error envelope (a stream with one
error event), frees the sequences, shows in /health and /metrics, and the engine restarts; one
failure too many stops the process with a non-zero exit code so that a supervisor restarts it.
The failure is injected through the scripted backend (`CRASH_ENGINE`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import specs
from reference_server.engine_health import EXIT_ENGINE_FAILED
from tests.reference_server._faulty_server import (
    MODEL_ID,
    chat_body,
    faulty_server,
    iter_sse,
    model_health,
    scrape,
    wait_until_idle,
)
from tests.reference_server._scripted_backend import CRASH_ENGINE

CHAT = "/v1/chat/completions"
RESTARTS = f'inferno_engine_restarts_total{{model="{MODEL_ID}"}}'
FAILED = f'inferno_engine_failed{{model="{MODEL_ID}"}}'


@pytest.fixture
def server() -> Iterator[object]:
    faults = {"engine_crash": 1, "no_eos": 1, "token_delay": 0.02, "token_marker": "PACE"}
    with faulty_server(["--parallel", "2"], **faults) as process:
        yield process


def _error_of(body: dict) -> dict:
    assert not list(specs.error_validator().iter_errors(body)), body
    return body["error"]


def _crash(base_url: str) -> httpx.Response:
    return httpx.post(base_url + CHAT, json=chat_body(f"please {CRASH_ENGINE}", 4), timeout=30)


@pytest.mark.slow
def test_an_engine_failure_answers_everyone_and_the_engine_restarts(server) -> None:
    base_url = server.base_url
    with ThreadPoolExecutor(max_workers=1) as pool, httpx.Client(timeout=30) as client:

        def stream() -> list:
            body = chat_body("PACE a long answer", 500, stream=True)
            with client.stream("POST", base_url + CHAT, json=body) as response:
                assert response.status_code == 200
                return list(iter_sse(response.iter_lines()))

        in_flight = pool.submit(stream)
        deadline = time.monotonic() + 20
        while model_health(base_url)["running"] == 0:  # the stream holds a sequence
            assert time.monotonic() < deadline, "the paced stream never started"
            time.sleep(0.02)
        crashed = _crash(base_url)
        items = in_flight.result(timeout=30)

    assert crashed.status_code == 500, crashed.text
    assert "engine failed" in _error_of(crashed.json())["message"]
    data = [item for item in items if item.kind == "data"]
    assert all(item.text != "[DONE]" for item in data), data[-3:]
    errors = [item.json() for item in data if "error" in item.json()]
    assert len(errors) == 1 and data[-1].json() == errors[0], data[-3:]
    assert "engine failed" in _error_of(errors[0])["message"]

    health = wait_until_idle(base_url)  # the sequences were freed
    assert health["state"] == "ready" and health["restarts"] == 1, health
    samples = scrape(base_url)
    assert samples[RESTARTS] == 1 and samples[FAILED] == 0, samples
    again = httpx.post(base_url + CHAT, json=chat_body("are you there", 3), timeout=30)
    assert again.status_code == 200, again.text


@pytest.mark.slow
def test_failing_more_often_than_it_may_restart_exits_non_zero(server) -> None:
    base_url = server.base_url
    statuses = [_crash(base_url).status_code for _ in range(3)]
    assert statuses == [500, 500, 500]
    assert model_health(base_url)["restarts"] == 3
    last = _crash(base_url)  # a fourth failure within the window: the engine gives up
    assert last.status_code == 500, last.text
    assert server.process.wait(timeout=30) == EXIT_ENGINE_FAILED
    assert "could not restart" in server.log()
