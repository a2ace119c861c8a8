"""Client-fault storm: clients that vanish at random points among well-behaved ones.

A vanishing client sends a real request on a raw socket and then disappears: before the
response headers, during prefill (a long prompt), mid-stream, or while reading slowly through
a small receive window; half close with a reset, half with an orderly FIN. The well-behaved
clients send `_mix.MIX` and judge every answer. Afterwards: how long until the server is idle,
whether the next request is served at once, and what `/metrics` counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from . import _mix, _server
from ._plan import Plan

VANISH_POINTS = ("before-headers", "during-prefill", "mid-stream", "slow-reader")
LONG_PROMPT = "Tell me everything about the sea, the wind and the ships. " * 30
SMALL_WINDOW = 2048  # receive buffer of a slow reader
NEXT_REQUEST = {
    "model": _mix.MODEL,
    "messages": [{"role": "user", "content": "Hi"}],
    "max_tokens": 8,
}


def run(base_url: str, plan: Plan, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        before = _server.scrape(http)
        result = asyncio.run(_storm(base_url, plan, seed))
        idle_after = _server.seconds_until_idle(http)
        started = time.monotonic()
        probe = http.post("/v1/chat/completions", json=NEXT_REQUEST)
        next_latency = time.monotonic() - started
        accounting = _server.settled_accounting(http)
        after = _server.scrape(http)
    log(f"storm: {result['requests']} requests, idle {idle_after} s after the last")
    moved = _server.delta(_server.statuses(after), _server.statuses(before))
    outcomes = _server.delta(_server.outcomes(after), _server.outcomes(before))
    return result | {
        "idle_after_s": idle_after,
        "next_request_status": probe.status_code,
        "next_request_s": round(next_latency, 4),
        "server_statuses": moved,
        "server_5xx": sum(n for s, n in moved.items() if s.startswith("5")),
        "server_outcomes": outcomes,
        "accounting": accounting,
    }


async def _storm(base_url: str, plan: Plan, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    host, port = base_url.removeprefix("http://").split(":")
    gate = asyncio.Semaphore(plan.storm_in_flight)
    vanished: Counter[str] = Counter()
    seen_by_vanishing: Counter[str] = Counter()
    behaved: list[_mix.Outcome] = []
    limits = httpx.Limits(max_connections=plan.storm_in_flight + 4)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0)) as client:

        async def one(number: int) -> None:
            local = random.Random(rng.random())
            async with gate:
                if local.random() < plan.storm_vanishing:
                    point = local.choice(VANISH_POINTS)
                    status = await _vanish(host, int(port), point, local)
                    vanished[point] += 1
                    seen_by_vanishing[status or "nothing"] += 1
                else:
                    behaved.append(await _mix.send(client, base_url, _mix.pick(local), local))

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(plan.storm_requests)))
        duration = time.monotonic() - started
    bad = [o for o in behaved if o.error]
    return {
        "requests": plan.storm_requests,
        "in_flight": plan.storm_in_flight,
        "duration_s": round(duration, 2),
        "vanishing": dict(vanished),
        "vanishing_saw": dict(seen_by_vanishing),
        "vanishing_5xx": sum(n for s, n in seen_by_vanishing.items() if s.startswith("5")),
        "well_behaved": len(behaved),
        "well_behaved_complete": sum(o.complete for o in behaved),
        "well_behaved_shed": sum(o.shed for o in behaved),
        "well_behaved_bad": len(bad),
        "well_behaved_5xx": sum(1 for o in behaved if (o.status or 0) >= 500),
        "bad_examples": sorted({o.problem for o in bad})[:5],
    }


def _request(host: str, point: str, rng: random.Random) -> bytes:
    stream = point in ("mid-stream", "slow-reader") or rng.random() < 0.5
    content = LONG_PROMPT if point == "during-prefill" else rng.choice(_mix.PROMPTS)
    body = json.dumps(
        {
            "model": _mix.MODEL,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 64,
            "stream": stream,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _vanish(host: str, port: int, point: str, rng: random.Random) -> str | None:
    """Sends a request, disappears at `point`; returns the status it saw, if any."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if point == "slow-reader":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_WINDOW)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    received = b""
    try:
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, _request(host, point, rng))
        if point in ("before-headers", "during-prefill"):
            await asyncio.sleep(rng.uniform(0.0, 0.05))
        elif point == "mid-stream":
            received = await _read_events(loop, sock, rng.randint(1, 6))
        else:
            received = await _read_slowly(loop, sock, rng.uniform(0.1, 1.0))
    except (OSError, TimeoutError):
        pass
    finally:
        if rng.random() < 0.5:  # a reset, like a killed process
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    first_line = received.split(b"\r\n", 1)[0].split()
    return first_line[1].decode() if len(first_line) > 1 else None


async def _read_events(loop: asyncio.AbstractEventLoop, sock: socket.socket, events: int) -> bytes:
    data = b""
    async with asyncio.timeout(30.0):
        while data.count(b"data:") < events:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 200"):
                break  # refused: there is no stream to vanish from
    return data


async def _read_slowly(loop: asyncio.AbstractEventLoop, sock: socket.socket, for_s: float) -> bytes:
    data = b""
    until = time.monotonic() + for_s
    async with asyncio.timeout(for_s + 30.0):
        while time.monotonic() < until:
            chunk = await loop.sock_recv(sock, 64)
            if not chunk:
                break
            data += chunk[:256] if len(data) < 256 else b""
            await asyncio.sleep(0.02)
    return data
