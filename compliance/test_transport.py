"""Transport behaviour (preset full): compression negotiation, a short burst, stream resilience."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from compliance._answer import answer_of
from compliance._checks import chat_body, expect_ok
from compliance._client import ApiClient, Exchange
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance.rules import BREAKS_CLIENTS, CONTRACT, declare

pytestmark = pytest.mark.preset("full")
OP = "createChatCompletion"
BURST_SIZE = 12
RETRY_AFTER_CAP_S = 10.0

COMPRESSION = declare(
    "transport.compression",
    CONTRACT,
    "a body is encoded only with a codec the client accepted, and decodes",
)
BURST = declare(
    "transport.burst",
    BREAKS_CLIENTS,
    "under a burst every request is served or shed with 429/503 (Retry-After honoured), no hang",
)
SLOW_READER = declare(
    "transport.slow-reader", CONTRACT, "a slow reader still gets the whole stream"
)
RECOVERY = declare(
    "transport.recovery", BREAKS_CLIENTS, "a client hanging up mid-stream does not break the server"
)


@pytest.mark.parametrize("codec", ["identity", "gzip", "deflate", "br", "zstd"])
def test_compression_negotiation(
    client: ApiClient, settings: Settings, model: str, codec: str
) -> None:
    exchange = client.post(
        "/chat/completions", chat_body(model), headers={"Accept-Encoding": codec}
    )
    # httpx decodes every codec listed here; a body that fails to decode is a transport error.
    expect_ok(exchange, OP, settings.profile)
    used = exchange.headers.get("content-encoding", "identity").lower()
    ensure(
        used in (codec, "identity"),
        COMPRESSION,
        f"asked for {codec!r} only, got Content-Encoding {used!r}",
        exchange,
    )


def test_compressed_stream_decodes(client: ApiClient, settings: Settings, model: str) -> None:
    exchange = client.stream(
        "/chat/completions",
        {**chat_body(model), "stream": True},
        headers={"Accept-Encoding": "gzip, deflate, br, zstd"},
        max_events=96,
    )
    # Decoded, it is an answer: a stream of `choices: []` chunks decodes too, and proves nothing.
    answer_of(exchange, "chat", "stream", settings.profile).require_choices()


def _retry_after(exchange: Exchange) -> float | None:
    value = exchange.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def test_short_burst(client: ApiClient, settings: Settings, model: str) -> None:
    body = chat_body(model, max_tokens=8)
    with ThreadPoolExecutor(max_workers=BURST_SIZE) as pool:
        answers = list(
            # Shedding is what this rule judges: its 429/503 are evidence, never retried.
            pool.map(
                lambda _: client.post("/chat/completions", body, retry_shed=False),
                range(BURST_SIZE),
            )
        )
    shed = []
    for exchange in answers:
        if exchange.error:
            fail(BURST, f"request in a burst of {BURST_SIZE} failed", exchange)
        if exchange.status in (429, 503):
            shed.append(exchange)
            continue
        ensure(
            exchange.status == 200,
            BURST,
            f"under a burst a server may shed with 429/503, not {exchange.status}",
            exchange,
        )
    for exchange in shed[:2]:
        wait = _retry_after(exchange)
        if wait is None:
            continue
        time.sleep(min(wait, RETRY_AFTER_CAP_S))
        retry = client.post("/chat/completions", body, retry_shed=False)
        ensure(
            retry.status == 200,
            BURST,
            f"after waiting Retry-After ({wait} s) the retry still got {retry.status}",
            retry,
        )


def test_slow_reader_gets_whole_stream(client: ApiClient, settings: Settings, model: str) -> None:
    exchange = client.stream(
        "/chat/completions", {**chat_body(model), "stream": True}, read_pause_s=0.1, max_events=96
    )
    answer_of(exchange, "chat", "stream", settings.profile).require_choices()  # a whole answer


def test_server_recovers_after_client_disconnect(
    client: ApiClient, settings: Settings, model: str
) -> None:
    # Read a couple of events, then hang up: the next request must be served normally.
    client.stream(
        "/chat/completions", {**chat_body(model, max_tokens=64), "stream": True}, max_events=1
    )
    exchange = client.post("/chat/completions", chat_body(model, max_tokens=4))
    ensure(
        exchange.status == 200,
        RECOVERY,
        f"after a client hung up mid-stream the next request got {exchange.status}",
        exchange,
    )
    expect_ok(exchange, OP, settings.profile)
