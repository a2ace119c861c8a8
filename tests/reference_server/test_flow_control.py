"""Flow control against a real server process with 4 sequences and 8 queue places: admission
queue, load states, backpressure from a slow reader (which pauses only its own sequence), stall
timeout, and cancellation on disconnect (mid-stream and mid-queue)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import specs
from inferno.launcher import rss_bytes
from inferno.sse import parse as parse_sse
from tests.reference_server._faulty_server import (
    MODEL_ID,
    cancelled_count,
    chat_body,
    faulty_server,
    model_health,
    raw_post,
    read_until,
    scrape,
    wait_until_idle,
)

# `make test-fast` leaves it out; timings of a few hundred ms: `make test` runs it alone.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

PARALLEL = 4
MAX_QUEUE = 8
CAPACITY = PARALLEL + MAX_QUEUE  # sequences plus queue places
TOKEN_DELAY = 0.02
STALL_TIMEOUT = 3.0
CHAT = "/v1/chat/completions"


class FlowServer:
    def __init__(self, server: Any, token_log: Path) -> None:
        self.server = server
        self.base_url: str = server.base_url
        self.token_log = token_log

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def tokens_generated(self) -> int:
        return self.token_log.stat().st_size if self.token_log.exists() else 0

    def tokens_after_cancel(self) -> int:
        """Tokens sampled for requests that were already cancelled (a step in flight)."""
        return self.token_log.read_bytes().count(b"x") if self.token_log.exists() else 0


@pytest.fixture(scope="module")
def flow() -> Iterator[FlowServer]:
    """Prompts containing SLOW cost TOKEN_DELAY per token (and so slow down the step they are
    in); other prompts run at full speed. EOS is disabled: every generation is exactly
    max_tokens long.
    """
    with tempfile.TemporaryDirectory(prefix="inferno-flow-") as tmp:
        token_log = Path(tmp) / "tokens"
        args = ["--parallel", str(PARALLEL), "--max-queue", str(MAX_QUEUE)]
        args += ["--stream-stall-timeout", str(STALL_TIMEOUT)]
        faults = {"token_delay": TOKEN_DELAY, "token_marker": "SLOW", "no_eos": 1}
        with faulty_server(args, token_log=token_log, **faults) as server:
            yield FlowServer(server, token_log)


@pytest.fixture(autouse=True)
def _idle_between_tests(flow: FlowServer) -> Iterator[None]:
    # A test that leaves work behind would change the next test's load numbers.
    wait_until_idle(flow.base_url)
    yield
    wait_until_idle(flow.base_url)


def _check_envelope(body: Any) -> None:
    errors = sorted(specs.error_validator().iter_errors(body), key=str)
    assert not errors, f"not an error envelope: {body!r}: {errors[0].message}"


def _check_retry_after(headers: httpx.Headers | dict[str, str]) -> None:
    value = headers.get("retry-after")
    assert value is not None and value.isdigit() and int(value) >= 1, f"Retry-After: {value!r}"


# -- 64 concurrent streaming clients against --max-queue 8 --------------------------------------


async def _one_client(
    client: httpx.AsyncClient, base_url: str, i: int
) -> tuple[int, httpx.Headers, bytes]:
    body = chat_body(f"SLOW client {i}", 8, stream=True, seed=i)
    async with client.stream("POST", base_url + CHAT, json=body) as response:
        return response.status_code, response.headers, await response.aread()


async def _burst(base_url: str, clients: int) -> tuple[list[Any], set[str]]:
    """Starts every client at once and watches the load state while they run."""
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=0)
    timeout = httpx.Timeout(60.0, connect=10.0)
    seen_states: set[str] = set()
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        tasks = [asyncio.create_task(_one_client(client, base_url, i)) for i in range(clients)]

        async def watch() -> None:
            for _ in range(2000):  # bounded: stops when every client is done
                if all(t.done() for t in tasks):
                    return
                health = (await client.get(base_url + "/health")).json()
                seen_states.add(health["load"])
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await watcher
    return results, seen_states


def test_64_streaming_clients_against_a_queue_of_8(flow: FlowServer) -> None:
    results, seen_states = asyncio.run(_burst(flow.base_url, 64))
    crashed = [r for r in results if isinstance(r, BaseException)]
    assert not crashed, f"client errors (hang or dropped connection): {crashed[:3]!r}"
    event_validator = specs.stream_event_validator("createChatCompletion")
    accepted = rejected = 0
    for status, headers, raw in results:
        assert headers.get("x-inferno-load") in {"healthy", "moderate", "critical"}
        if status == 200:
            accepted += 1
            events = [event.data for event in parse_sse(raw)]
            assert events[-1] == "[DONE]", f"accepted stream did not finish: {raw[-200:]!r}"
            for event in events[:-1]:
                event_validator.validate(json.loads(event))
            continue
        rejected += 1
        assert status in (429, 503), f"shed with {status}: {raw[:300]!r}"
        _check_retry_after(headers)
        envelope = json.loads(raw)
        _check_envelope(envelope)
        if status == 429:
            assert envelope["error"]["type"] == "rate_limit_error"
    # The running requests and the full queue always complete; the burst is far faster than the
    # drain rate, so some requests must have been shed.
    assert accepted >= CAPACITY, (accepted, rejected)
    assert rejected >= 1, (accepted, rejected)
    assert accepted + rejected == 64
    assert seen_states & {"moderate", "critical"}, seen_states
    health = httpx.get(flow.base_url + "/health", timeout=5.0)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    after = httpx.post(flow.base_url + CHAT, json=chat_body("after the burst", 4), timeout=30.0)
    assert after.status_code == 200, after.text


# -- load states: healthy / moderate / critical on /health, /metrics and every response ---------


def _load_state_everywhere(base_url: str) -> dict[str, Any]:
    """The load state as each surface reports it."""
    health = httpx.get(base_url + "/health", timeout=5.0).json()
    samples = scrape(base_url)
    metric_states = [
        state
        for state in ("healthy", "moderate", "critical")
        if samples.get(f'inferno_load_state{{state="{state}"}}') == 1
    ]
    header = httpx.get(base_url + "/v1/models", timeout=5.0).headers.get("x-inferno-load")
    return {
        "health": health["load"],
        "utilisation": health["utilisation"],
        "metrics": metric_states,
        "metric_utilisation": samples.get(f'inferno_utilisation{{model="{MODEL_ID}"}}'),
        "header": header,
    }


def _hold_requests(base_url: str, count: int, sockets: list[socket.socket]) -> None:
    """Starts `count` long generations whose clients read nothing (yet) and waits until the
    server has admitted all of them."""
    before = model_health(base_url)
    target = before["running"] + before["queued"] + count
    for i in range(count):
        sockets.append(raw_post(base_url, CHAT, chat_body(f"SLOW hold {i}", 400, stream=True)))
    deadline = time.monotonic() + 10.0
    while (h := model_health(base_url))["running"] + h["queued"] < target:
        assert time.monotonic() < deadline, f"only {h} admitted, wanted {target}"
        time.sleep(0.02)


def test_load_states_and_deterministic_shedding(flow: FlowServer) -> None:
    base = flow.base_url
    sockets: list[socket.socket] = []
    try:
        idle = _load_state_everywhere(base)
        assert idle == {
            "health": "healthy",
            "utilisation": 0.0,
            "metrics": ["healthy"],
            "metric_utilisation": 0.0,
            "header": "healthy",
        }
        # 4 sequences busy and 5 waiting: 9 of 12 places is 75 %, moderate (70-90 %).
        _hold_requests(base, 9, sockets)
        moderate = _load_state_everywhere(base)
        assert moderate["health"] == moderate["header"] == "moderate", moderate
        assert moderate["metrics"] == ["moderate"], moderate
        assert moderate["utilisation"] == pytest.approx(9 / CAPACITY, abs=1e-3)
        assert moderate["metric_utilisation"] == pytest.approx(9 / CAPACITY, abs=1e-3)
        health = model_health(base)
        assert (health["running"], health["queued"]) == (PARALLEL, 5), health
        # All 12 places taken: critical, and the next request is shed at once.
        _hold_requests(base, 3, sockets)
        critical = _load_state_everywhere(base)
        assert critical["health"] == critical["header"] == "critical", critical
        assert critical["metrics"] == ["critical"], critical
        health = model_health(base)
        assert (health["running"], health["queued"]) == (PARALLEL, MAX_QUEUE), health
        samples = scrape(base)
        assert samples[f'inferno_sequences{{model="{MODEL_ID}",state="busy"}}'] == PARALLEL
        # A client timeout shorter than any held generation: a shed that waited would fail here.
        shed = httpx.post(base + CHAT, json=chat_body("one too many", 4, stream=True), timeout=10)
        assert shed.status_code == 429, shed.text
        assert shed.headers.get("x-inferno-load") == "critical"
        _check_retry_after(shed.headers)
        _check_envelope(shed.json())
        assert shed.json()["error"]["type"] == "rate_limit_error"
        assert model_health(base)["queued"] == MAX_QUEUE  # the shed request never queued
    finally:
        for sock in sockets:
            sock.close()
    # Closing the clients cancels queued and running work: the server is healthy again.
    wait_until_idle(base)
    assert _load_state_everywhere(base)["health"] == "healthy"


# -- a slow reader pauses its own generation; a stalled one is aborted ------------------------


def _wait_for_pause(flow: FlowServer, start: int, timeout: float) -> int:
    """Waits until the engine stops producing tokens for this stream; returns how many it made."""
    deadline = time.monotonic() + timeout
    last, stable_since = flow.tokens_generated(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = flow.tokens_generated()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif now > start and time.monotonic() - stable_since >= 0.4:
            return now - start
    raise AssertionError(f"generation never paused: {flow.tokens_generated() - start} tokens")


def test_slow_reader_pauses_generation_and_keeps_memory_bounded(flow: FlowServer) -> None:
    # Warm up: the first generation allocates the logits buffers, which is not stream buffering.
    warm = chat_body("warm up", 50, logprobs=True, top_logprobs=20)
    assert httpx.post(flow.base_url + CHAT, json=warm, timeout=30).status_code == 200
    rss_before = rss_bytes(flow.pid)
    cancelled_before = cancelled_count(flow.base_url)
    start = flow.tokens_generated()
    # 20 alternatives per token make each event ~2 KB: 3 choices of 1000 tokens are ~6 MB, more
    # than the kernel's autotuned loopback send buffer (at most 4 MB), the transport's 64 KiB
    # and the bounded per-stream channel can hold together.
    total = 3 * 1000
    body = chat_body(
        "read me slowly", 1000, n=3, stream=True, logprobs=True, top_logprobs=20, seed=7
    )
    sock = raw_post(flow.base_url, CHAT, body, rcvbuf=4096)
    try:
        paused_at = _wait_for_pause(flow, start, timeout=20.0)
        assert paused_at < 0.8 * total, f"{paused_at} tokens made for a client reading nothing"
        health = model_health(flow.base_url)
        assert health["running"] == 3, health  # three sequences, paused, not finished
        growth = rss_bytes(flow.pid) - rss_before
        assert growth < 20 * 1024 * 1024, f"server RSS grew by {growth / 1e6:.1f} MB"
        # Past the stall timeout the stream is aborted and its slot freed.
        deadline = time.monotonic() + STALL_TIMEOUT + 5.0
        while model_health(flow.base_url)["running"]:
            assert time.monotonic() < deadline, "stalled stream was never aborted"
            time.sleep(0.05)
        assert cancelled_count(flow.base_url) == cancelled_before + 1
        assert flow.tokens_generated() - start == paused_at, "generation resumed"
    finally:
        sock.close()
    ok = httpx.post(flow.base_url + CHAT, json=chat_body("still serving", 4), timeout=30)
    assert ok.status_code == 200


def _drain(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Reads what is left on a socket: (data, whether the server closed the connection)."""
    deadline = time.monotonic() + timeout
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def test_stalled_stream_is_aborted_at_the_transport(flow: FlowServer) -> None:
    body = chat_body("stall me", 1000, n=3, stream=True, logprobs=True, top_logprobs=20, seed=8)
    sock = raw_post(flow.base_url, CHAT, body, rcvbuf=4096)
    try:
        deadline = time.monotonic() + 30.0
        while not model_health(flow.base_url)["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        while model_health(flow.base_url)["running"]:
            assert time.monotonic() < deadline, "stalled stream was never aborted"
            time.sleep(0.05)
        data, closed = _drain(sock, timeout=3.0)
    finally:
        sock.close()
    assert b"[DONE]" not in data, "an aborted stream must not claim to be complete"
    assert closed, "the server kept the connection of an aborted stream open"
    assert not data.endswith(b"\r\n0\r\n\r\n"), "aborted stream ended with a final chunk"


def test_slow_reader_pauses_only_itself(flow: FlowServer) -> None:
    """A reader that stops reading sits out of the batch; a sequence decoded beside it runs to
    the end meanwhile, and the paused one makes no progress while it does."""
    base = flow.base_url
    start = flow.tokens_generated()
    # As in the test above: more than the socket buffers hold, so the generation must pause.
    slow_body = chat_body(
        "nobody reads me", 1000, n=3, stream=True, logprobs=True, top_logprobs=20, seed=4
    )
    slow = raw_post(base, CHAT, slow_body, rcvbuf=4096)
    try:
        paused_at = _wait_for_pause(flow, start, timeout=20.0)
        assert paused_at < 0.8 * 3000, paused_at
        before = model_health(base)
        assert before["running"] == 3, before
        steps_before = scrape(base)[f'inferno_decode_steps_total{{model="{MODEL_ID}"}}']
        reader = chat_body("I read everything", 300, stream=True, seed=3)
        with httpx.stream("POST", base + CHAT, json=reader, timeout=30) as response:
            assert response.status_code == 200
            body = "".join(response.iter_text())
        assert body.rstrip().endswith("data: [DONE]"), body[-200:]
        after = scrape(base)
        # Every token of the reader came from its own steps; the paused stream made none.
        assert flow.tokens_generated() - start == paused_at + 300
        assert after[f'inferno_decode_steps_total{{model="{MODEL_ID}"}}'] - steps_before >= 300
        assert model_health(base)["running"] == 3  # still there, still paused
    finally:
        slow.close()


# -- disconnects free the sequence -----------------------------------------------------------------


def _poll_until(client: httpx.Client, base_url: str, done: Any, budget: float) -> None:
    """Polls /health until `done(health)`; fails the test after `budget` seconds."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if done(model_health(base_url, client)):
            return
        time.sleep(0.005)
    raise AssertionError(f"condition not reached in {budget:g} s: {model_health(base_url)}")


def test_disconnect_mid_stream_frees_the_sequence_within_a_step(flow: FlowServer) -> None:
    base = flow.base_url
    before = cancelled_count(base)
    late_before = flow.tokens_after_cancel()
    sock = raw_post(base, CHAT, chat_body("SLOW disconnect me", 400, stream=True))
    try:
        read_until(sock, b"data: ", timeout=10.0)
        assert model_health(base)["running"] == 1
        start = flow.tokens_generated()
    finally:
        sock.close()
    wait_until_idle(base)
    # Each token costs TOKEN_DELAY: had the generation gone on, it would need 8 s more. Once the
    # cancel reached the engine, at most the step in flight sampled for it.
    assert flow.tokens_generated() - start < 100
    assert flow.tokens_after_cancel() - late_before <= 1
    assert cancelled_count(base) == before + 1
    busy = scrape(base)[f'inferno_sequences{{model="{MODEL_ID}",state="busy"}}']
    assert busy == 0


def test_disconnect_mid_queue_frees_the_queue_place(flow: FlowServer) -> None:
    base = flow.base_url
    before = cancelled_count(base)
    running: list[socket.socket] = []
    try:
        _hold_requests(base, PARALLEL, running)  # every sequence busy
        queued = raw_post(base, CHAT, chat_body("SLOW wait in line", 4, stream=True))
        with httpx.Client(timeout=5.0) as client:
            try:
                _poll_until(client, base, lambda h: h["queued"] == 1, budget=5.0)
                tokens_when_queued = flow.tokens_generated()
            finally:
                queued.close()
            _poll_until(client, base, lambda h: h["queued"] == 0, budget=5.0)
        # The place was freed while every sequence was still busy with its 400 tokens: the
        # queued request left the queue, it was not served.
        health = model_health(base)
        assert health["running"] == PARALLEL, health
        assert flow.tokens_generated() - tokens_when_queued < PARALLEL * 400
        assert cancelled_count(base) == before + 1
    finally:
        for sock in running:
            with contextlib.suppress(OSError):
                sock.close()
    wait_until_idle(base)
    assert cancelled_count(base) == before + 1 + PARALLEL


def test_metrics_expose_the_flow_gauges(flow: FlowServer) -> None:
    samples = scrape(flow.base_url)
    label = f'{{model="{MODEL_ID}"}}'
    for name in (
        "inferno_queue_depth",
        "inferno_running_requests",
        "inferno_cancelled_requests_total",
        "inferno_utilisation",
    ):
        assert name + label in samples, name
    assert sum(samples.get(f'inferno_load_state{{state="{s}"}}', 0) for s in ("healthy",)) == 1
    assert os.path.exists(f"/proc/{flow.pid}")  # the server survived everything above
