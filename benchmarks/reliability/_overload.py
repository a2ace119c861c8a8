"""Overload: a burst of streamed requests, many times the admission queue, all at once.

Every answer must be 200 or 429 with `Retry-After`, and every served stream must end with
`[DONE]`. Then shed clients do what `Retry-After` says: wait that long, retry once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from . import _mix
from ._plan import Plan

RETRYING_CLIENTS = 5  # shed clients that wait as told and retry
CHAT_STREAM = next(kind for kind in _mix.MIX if kind.name == "chat.stream")


def run(base_url: str, plan: Plan, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    result = asyncio.run(_overload(base_url, plan, seed))
    log(f"overload: {result['statuses']}, retries served {result['retries_served']}")
    return result


async def _overload(base_url: str, plan: Plan, seed: int) -> dict[str, Any]:
    burst = plan.overload_factor * plan.max_queue
    limits = httpx.Limits(max_connections=burst + 8, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0)) as client:
        gate = asyncio.Event()

        async def one(number: int) -> _mix.Outcome:
            await gate.wait()  # all at once
            return await _mix.send(client, base_url, CHAT_STREAM, random.Random(seed + number))

        tasks = [asyncio.create_task(one(i)) for i in range(burst)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        gate.set()
        outcomes = await asyncio.gather(*tasks)
        duration = time.monotonic() - started
        shed = [o for o in outcomes if o.shed][:RETRYING_CLIENTS]
        retries = await asyncio.gather(*(_retry(client, base_url, o, seed) for o in shed))
    statuses = Counter(str(o.status) for o in outcomes)
    served = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    return {
        "burst": burst,
        "queue": plan.max_queue,
        "duration_s": round(duration, 2),
        "statuses": dict(sorted(statuses.items())),
        "only_200_and_429": set(statuses) <= {"200", "429"},
        "shed_with_retry_after": sum(1 for o in refused if o.shed),
        "shed_without_retry_after": sum(1 for o in refused if not o.shed),
        "served": len(served),
        "served_complete": sum(o.complete for o in served),
        "served_incomplete_examples": sorted({o.problem for o in served if not o.complete})[:5],
        "retry_after_values": sorted({o.retry_after for o in refused if o.retry_after is not None}),
        "retries": [r for r in retries],
        "retries_served": sum(1 for r in retries if r["status"] == 200 and r["complete"]),
    }


async def _retry(
    client: httpx.AsyncClient, base_url: str, shed: _mix.Outcome, seed: int
) -> dict[str, Any]:
    """Waits as the shed answer said (from when it came), then asks again."""
    wait = shed.retry_after or 0.0
    await asyncio.sleep(max(0.0, shed.started + shed.e2e_s + wait - time.monotonic()))
    again = await _mix.send(client, base_url, CHAT_STREAM, random.Random(seed))
    return {"waited_s": wait, "status": again.status, "complete": again.complete}
