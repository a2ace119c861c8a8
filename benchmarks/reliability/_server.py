"""The server under test: started through the shared launcher, watched through /proc,
`/health` and `/metrics`."""

from __future__ import annotations

import time
from typing import Any

import httpx

from inferno.launcher import ServerProcess, reference_server_process
from tests.reference_server._assertions import Samples, metric, parse_metrics

STARTED = "inferno_requests_started_total"
FINISHED = "inferno_requests_finished_total"
REQUESTS = "inferno_requests_total"
OUTCOMES = ("completed", "cancelled", "shed", "failed")
IDLE_POLL_S = 0.01


def server(max_queue: int) -> ServerProcess:
    return reference_server_process(["--model", "tiny", "--max-queue", str(max_queue)])


def busy(http: httpx.Client) -> int:
    """Requests running or queued, over every model."""
    models = http.get("/health").json()["models"].values()
    return sum(m["running"] + m["queued"] for m in models)


def seconds_until_idle(http: httpx.Client, limit_s: float = 60.0) -> float | None:
    """How long until nothing runs or waits (None: still busy after `limit_s`)."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if busy(http) == 0:
            return time.monotonic() - start
        time.sleep(IDLE_POLL_S)
    return None


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    response.raise_for_status()
    return parse_metrics(response.text)


def routes(samples: Samples) -> list[str]:
    return sorted({dict(labels)["route"] for name, labels in samples if name == STARTED})


def accounting(samples: Samples) -> dict[str, Any]:
    """Per route: requests started and how they ended; whether started = Σ outcomes.

    The scrape that produced the samples is itself in flight on /metrics.
    """
    table: dict[str, Any] = {}
    adds_up = True
    for route in routes(samples):
        row: dict[str, Any] = {"started": metric(samples, STARTED, route=route)}
        for outcome in OUTCOMES:
            row[outcome] = metric(samples, FINISHED, route=route, outcome=outcome)
        in_flight = 1 if route == "/metrics" else 0
        row["adds_up"] = row["started"] == sum(row[o] for o in OUTCOMES) + in_flight
        adds_up = adds_up and row["adds_up"]
        table[route] = row
    return {"routes": table, "adds_up": adds_up}


def statuses(samples: Samples) -> dict[str, float]:
    """inferno_requests_total summed over routes, by status."""
    found: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name == REQUESTS:
            status = dict(labels)["status"]
            found[status] = found.get(status, 0.0) + value
    return found


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    keys = set(after) | set(before)
    moved = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in sorted(keys)}
    return {k: v for k, v in moved.items() if v}


def outcomes(samples: Samples) -> dict[str, float]:
    """inferno_requests_finished_total summed over routes, by outcome."""
    found = dict.fromkeys(OUTCOMES, 0.0)
    for (name, labels), value in samples.items():
        if name == FINISHED:
            outcome = dict(labels)["outcome"]
            found[outcome] = found.get(outcome, 0.0) + value
    return found


def settled_accounting(http: httpx.Client, limit_s: float = 10.0) -> dict[str, Any]:
    """The accounting once the counters agree (a dropped stream ends a moment later)."""
    start = time.monotonic()
    result = accounting(scrape(http))
    while not result["adds_up"] and time.monotonic() - start < limit_s:
        time.sleep(0.05)
        result = accounting(scrape(http))
    return result
