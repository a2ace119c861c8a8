"""Timed requests: one plain JSON request, one streamed completion (TTFT, ITL, tokens).

Stream timing reuses the load profiles' definitions (loadtests/_stream_meter.py): TTFT is the
first event with generated text, ITL the gaps between content events, and output tokens come
from ``usage`` when the server sends it, else one per content event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from inferno.sse import SSEParser
from loadtests._shed import SHED_STATUSES
from loadtests._stream_meter import StreamMeter

from ._rawhttp import RawConnection


@dataclass
class Outcome:
    """One request: ok, shed (429/503: the server protecting itself) or an error."""

    status: int | None
    latency_s: float
    error: str | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    output_tokens: int = 0
    itl_s: list[float] = field(default_factory=list)

    @property
    def shed(self) -> bool:
        return self.status in SHED_STATUSES

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


async def timed_request(
    connection: RawConnection, method: str, path: str, body: dict[str, Any] | None = None
) -> Outcome:
    start = time.perf_counter()
    status, error = await connection.request(method, path, body)
    return Outcome(status, time.perf_counter() - start, error=error)


async def timed_stream(connection: RawConnection, path: str, body: dict[str, Any]) -> Outcome:
    start = time.perf_counter()
    meter = StreamMeter(start)
    parser = SSEParser()

    def on_body(data: bytes, now: float) -> None:
        for event in parser.feed(data):
            meter.on_data(event.data, now)

    status, error = await connection.request(
        "POST", path, body, on_body=on_body, accept="text/event-stream"
    )
    latency = time.perf_counter() - start
    if error is not None:
        return Outcome(status, latency, error=error)
    result = meter.result
    return Outcome(
        status,
        latency,
        error=result.failure(),
        ttft_s=result.ttft_s,
        e2e_s=result.e2e_s,
        output_tokens=result.output_tokens,
        itl_s=list(result.itl_s),
    )


def decode_rate(outcome: Outcome) -> float | None:
    """Tokens per second after the first token: 1 / TPOT, the usual decode-speed figure."""
    if outcome.ttft_s is None or outcome.e2e_s is None or outcome.output_tokens < 2:
        return None
    span = outcome.e2e_s - outcome.ttft_s
    return (outcome.output_tokens - 1) / span if span > 0 else None
