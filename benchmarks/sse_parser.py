"""How many SSE events per second one Locust process can parse and time.

    python -m benchmarks.sse_parser [--events 200000]

Measures the client-side work per streamed token on one core: incremental SSE parsing, UTF-8
decoding, JSON decoding and timing of an OpenAI chat chunk, and (second figure) the same plus
reporting each inter-token gap to Locust's statistics, which is what StreamingChatUser does.
Network I/O is left out: this is the ceiling the parser puts on one process.
"""

from __future__ import annotations

import argparse
import json
import time

from inferno.sse import SSEParser
from loadtests._stream_meter import StreamMeter


def _chunk(i: int) -> bytes:
    payload = {
        "id": "chatcmpl-0123456789abcdef",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "bench",
        "choices": [{"index": 0, "delta": {"content": f" tok{i % 97}é"}, "finish_reason": None}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def bench(events: int, report: object | None) -> float:
    """Events per second, one event per read (the worst case: no coalescing)."""
    pieces = [_chunk(i) for i in range(1000)]
    per_stream = 100  # tokens per simulated response
    done = 0
    start = time.perf_counter()
    while done < events:
        parser, meter = SSEParser(), StreamMeter(time.perf_counter())
        for i in range(per_stream):
            now = time.perf_counter()
            for event in parser.feed(pieces[(done + i) % len(pieces)]):
                meter.on_data(event.data, now)
        if report is not None:
            for gap in meter.result.itl_s:
                report(gap * 1000.0)
        done += per_stream
    return done / (time.perf_counter() - start)


def _locust_reporter() -> object:
    from locust.env import Environment

    env = Environment()
    fire = env.events.request.fire

    def report(ms: float) -> None:
        fire(
            request_type="ITL",
            name="bench",
            response_time=ms,
            response_length=0,
            exception=None,
            context={},
        )

    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    parse_only = bench(args.events, None)
    with_stats = bench(args.events, _locust_reporter())
    print(f"parse + time:                {parse_only:>10,.0f} events/s")
    print(f"parse + time + Locust stats: {with_stats:>10,.0f} events/s")


if __name__ == "__main__":
    main()
