"""What the server does about an engine whose thread failed: /metrics samples, and the watcher
that stops the process once an engine gives up restarting."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

from sanic import Sanic

from .registry import ModelRegistry

FAULT_POLL_S = 0.1  # how often the watcher looks for an engine that gave up
EXIT_ENGINE_FAILED = 3  # the process's exit code then: a supervisor restarts it


def describe_metrics(metrics: Any) -> None:
    metrics.describe(
        "inferno_engine_failed", "gauge", "1 while the model's engine is down after a failure"
    )
    metrics.describe(
        "inferno_engine_restarts_total", "counter", "Engine restarts after a failure of its thread"
    )


def samples(registry: ModelRegistry) -> Iterator[tuple[str, tuple[tuple[str, str], ...], int]]:
    for served in registry:
        labels = (("model", served.model_id),)
        yield "inferno_engine_failed", labels, int(served.worker.fault is not None)
    for served in registry:
        yield "inferno_engine_restarts_total", (("model", served.model_id),), served.worker.restarts


async def watch_engine_faults(app: Sanic) -> None:
    """Stops the server with EXIT_ENGINE_FAILED once an engine has given up: a process that can
    no longer serve a model it was started for is better restarted whole."""
    while True:  # ends with the server: Sanic cancels its tasks on stop
        for served in app.ctx.registry:
            if served.worker.given_up:
                print(
                    f"error: the engine of model '{served.model_id}' failed and could not "
                    f"restart: {served.worker.fault}",
                    file=sys.stderr,
                    flush=True,
                )
                app.ctx.exit_code = EXIT_ENGINE_FAILED
                app.stop()
                return
        await asyncio.sleep(FAULT_POLL_S)
