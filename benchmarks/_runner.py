"""A whole benchmark: every peer, every run, A/B interleaved, nothing measured twice at once.

Only one thing runs at a time (a server and the driver, or the library), so peers never
compete with each other for the cores. The order of peers rotates from run to run, so a slow
period on a shared machine hurts each peer in a different position instead of always the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _library, _peers
from ._driver import drive
from ._model import ModelInfo
from ._peers import Launch, Peer
from ._plan import Plan
from ._report import LIBRARY
from ._server import ServerStartError, pick_port, serve


@dataclass(frozen=True)
class Setup:
    model: ModelInfo
    n_ctx: int
    threads: int
    plan: Plan
    prompts: list[str]
    roles: tuple[str, ...]
    no_repack: bool = False
    parallel: int = _peers.DEFAULT_PARALLEL
    n_batch: int = _peers.DEFAULT_N_BATCH

    @property
    def chat(self) -> bool:
        return self.model.has_chat_template


def probe(model_id: str, role: str) -> tuple[str, str, dict]:
    if role == "embed":
        return "POST", "/v1/embeddings", {"model": model_id, "input": "ready?"}
    body = {"model": model_id, "prompt": "ready?", "max_tokens": 1}
    return "POST", "/v1/completions", body


def measure_peer(peer: Peer, setup: Setup, log: Callable[[str], None]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for role in setup.roles:
        port = pick_port()
        launch = Launch(
            setup.model.path,
            setup.model.model_id,
            setup.n_ctx,
            setup.threads,
            port,
            setup.no_repack,
            setup.parallel,
            setup.n_batch,
        )
        started = time.perf_counter()
        try:
            with serve(peer, launch, role, probe(setup.model.model_id, role)) as server:
                metrics[f"{role}_startup_s"] = time.perf_counter() - started
                result = drive(
                    server.base_url,
                    setup.model.model_id,
                    role,
                    setup.plan,
                    setup.prompts,
                    setup.chat,
                )
        except ServerStartError as exc:
            log(f"  {peer.name} ({role}) did not start: {str(exc)[:300]}")
            metrics[f"{role}_error"] = f"did not start: {str(exc)[:300]}"
            continue
        if "driver_error" in result:
            log(f"  {peer.name} ({role}) driver failed: {result['driver_error'][:300]}")
            metrics[f"{role}_error"] = result["driver_error"][:300]
            continue
        samples = result.pop("error_samples", [])
        if samples:
            metrics.setdefault("error_samples", []).extend(samples)
        metrics |= result
    return metrics


def measure_library(setup: Setup) -> dict[str, Any]:
    plan = setup.plan
    return _library.run(
        "ceiling",
        str(setup.model.path),
        setup.n_ctx,
        setup.threads,
        no_repack=setup.no_repack,
        prompt=setup.prompts[0],
        single_tokens=plan.single_tokens,
        repeats=plan.single_repeats,
    )


def run_all(
    peers: list[Peer], setup: Setup, runs: int, log: Callable[[str], None]
) -> list[dict[str, dict[str, Any]]]:
    names = [p.name for p in peers] + [LIBRARY]
    by_name = {p.name: p for p in peers}
    results: list[dict[str, dict[str, Any]]] = []
    for index in range(runs):
        shift = index % len(names)
        order = names[shift:] + names[:shift]
        log(f"run {index + 1}/{runs}: {' → '.join(order)}")
        run: dict[str, dict[str, Any]] = {}
        for name in order:
            started = time.perf_counter()
            if name == LIBRARY:
                try:
                    run[name] = measure_library(setup)
                except Exception as exc:  # the ceiling is a reference, not a peer to fail on
                    run[name] = {"library_error": str(exc)[:300]}
            else:
                run[name] = measure_peer(by_name[name], setup, log)
            log(f"  {name}: {time.perf_counter() - started:.0f} s")
        results.append(run)
    return results
