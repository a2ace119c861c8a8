"""The four workloads, run against one server by the driver process.

Every request is bounded by the plan's timeout and every loop by a deadline or a count, so a
server that hangs costs at most the timeout and shows up as errors, never as a stuck run. Each
closed-loop worker owns one keep-alive connection, as a real client would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from inferno.stats import percentile
from inferno.urls import server_root

from ._client import Outcome, decode_rate, timed_request, timed_stream
from ._plan import Plan
from ._rawhttp import RawConnection
from ._stats import ms

SHED_BACKOFF_S = 0.2
MAX_ERROR_SAMPLES = 5
# Cap on requests one closed-loop worker may send, whatever the deadline: a bound on loops.
MAX_REQUESTS_PER_WORKER = 1_000_000

# temperature 0 is greedy decoding everywhere only without a repeat penalty: llama-cpp-python's
# server applies 1.1 by default (not an OpenAI parameter) and then stops early, doing less work
# per request. The others ignore the field (ours) or default to 1.0 (llama-server).
GREEDY = {"temperature": 0.0, "repeat_penalty": 1.0}

Metrics = dict[str, Any]
Send = Callable[[RawConnection, int], Awaitable[Outcome]]


class Target:
    def __init__(self, base_url: str, model_id: str, plan: Plan, prompts: list[str]) -> None:
        url = urlsplit(server_root(base_url))  # either URL form means the same server
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.v1 = url.path.rstrip("/") + "/v1"
        self.model_id = model_id
        self.plan = plan
        self.prompts = prompts or ["Once upon a time"]
        self.errors: list[str] = []

    def connect(self) -> RawConnection:
        return RawConnection(self.host, self.port, self.plan.request_timeout_s)

    def note(self, outcomes: list[Outcome]) -> tuple[int, int]:
        """Count errors and shed answers, keeping a few error texts for the record."""
        errors = [o for o in outcomes if not o.ok and not o.shed]
        for outcome in errors[: max(0, MAX_ERROR_SAMPLES - len(self.errors))]:
            self.errors.append(str(outcome.error)[:200])
        return len(errors), sum(o.shed for o in outcomes)

    def completion(self, prompt: str, max_tokens: int, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "prompt": prompt,
            "max_tokens": max_tokens,
            **GREEDY,
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def closed_loop(
        self, workers: int, duration_s: float, send: Send
    ) -> tuple[list[Outcome], float]:
        """`workers` clients send back to back until the deadline; started requests finish."""
        outcomes: list[Outcome] = []
        start = time.perf_counter()
        deadline = start + duration_s

        async def worker(index: int) -> None:
            connection = self.connect()
            try:
                for _ in range(MAX_REQUESTS_PER_WORKER):
                    outcome = await send(connection, index)
                    outcomes.append(outcome)
                    if outcome.shed:
                        await asyncio.sleep(SHED_BACKOFF_S)
                    if time.perf_counter() >= deadline:
                        return
            finally:
                await connection.close()

        await asyncio.gather(*(worker(i) for i in range(workers)))
        return outcomes, time.perf_counter() - start


def _e2e_rate(outcome: Outcome) -> float | None:
    if not outcome.e2e_s or outcome.output_tokens < 1:
        return None
    return outcome.output_tokens / outcome.e2e_s


async def overhead(target: Target, chat: bool) -> Metrics:
    plan = target.plan
    concurrency = plan.overhead_concurrency
    models, elapsed = await target.closed_loop(
        concurrency, plan.overhead_s, lambda c, _i: timed_request(c, "GET", target.v1 + "/models")
    )
    errors, shed = target.note(models)
    metrics: Metrics = {
        f"models_c{concurrency}_rps": sum(o.ok for o in models) / elapsed,
        f"models_c{concurrency}_errors": errors + shed,
    }

    # Each prompt ends in its own number: a server that answers an exact repeat from a cache
    # (the reference server keeps the logits of a prompt's last token) must still decode, as
    # every other peer does, so the figure is the overhead of a request, not of a cache hit.
    def one_token(index: int) -> tuple[str, dict[str, Any]]:
        prompt = f"{target.prompts[0]} #{index}"
        if not chat:  # a base model has no chat template: the same request as a completion
            return target.v1 + "/completions", target.completion(prompt, 1, False)
        messages = [{"role": "user", "content": prompt}]
        body = {"model": target.model_id, "messages": messages, "max_tokens": 1, **GREEDY}
        return target.v1 + "/chat/completions", body

    connection = target.connect()
    try:
        one = [
            await timed_request(connection, "POST", *one_token(i))
            for i in range(plan.one_token_requests)
        ]
    finally:
        await connection.close()
    errors, shed = target.note(one)
    latencies = [o.latency_s for o in one if o.ok]
    metrics["one_token_kind"] = "chat" if chat else "completion"
    metrics["one_token_p50_ms"] = ms(percentile(latencies, 50))
    metrics["one_token_p99_ms"] = ms(percentile(latencies, 99))
    metrics["one_token_errors"] = errors + shed
    return metrics


async def single_stream(target: Target) -> Metrics:
    plan = target.plan
    body = target.completion(target.prompts[0], plan.single_tokens, True)
    path = target.v1 + "/completions"
    connection = target.connect()
    try:
        runs = [await timed_stream(connection, path, body) for _ in range(plan.single_repeats)]
    finally:
        await connection.close()
    errors, _shed = target.note(runs)
    good = [o for o in runs if o.ok]
    return {
        "single_ttft_ms": ms(percentile([o.ttft_s for o in good], 50)),
        "single_decode_tok_s": percentile([decode_rate(o) for o in good], 50),
        # Robust where tokens arrive in bursts (decode then looks near-infinite): whole stream.
        "single_e2e_ms": ms(percentile([o.e2e_s for o in good], 50)),
        "single_e2e_tok_s": percentile([_e2e_rate(o) for o in good], 50),
        "single_output_tokens": percentile([o.output_tokens for o in good], 50),
        "single_errors": errors,
    }


async def concurrency_levels(target: Target) -> Metrics:
    plan = target.plan
    metrics: Metrics = {}
    path = target.v1 + "/completions"

    def send(connection: RawConnection, index: int) -> Awaitable[Outcome]:
        prompt = target.prompts[index % len(target.prompts)]
        return timed_stream(connection, path, target.completion(prompt, plan.level_tokens, True))

    for level in plan.levels:
        outcomes, elapsed = await target.closed_loop(level, plan.level_s, send)
        errors, shed = target.note(outcomes)
        figures = {**stream_figures(outcomes, elapsed), "errors": errors, "shed": shed}
        metrics.update({f"c{level}_{name}": value for name, value in figures.items()})
    return metrics


def stream_figures(outcomes: list[Outcome], elapsed: float) -> Metrics:
    """Output tok/s, TTFT p50/p95, ITL p95 and the count of the closed loop's good streams."""
    good = [o for o in outcomes if o.ok]
    return {
        "agg_tok_s": sum(o.output_tokens for o in good) / elapsed,
        "ttft_p50_ms": ms(percentile([o.ttft_s for o in good], 50)),
        "ttft_p95_ms": ms(percentile([o.ttft_s for o in good], 95)),
        "itl_p95_ms": ms(percentile([x for o in good for x in o.itl_s], 95)),
        "requests": len(good),
    }


async def embeddings(target: Target) -> Metrics:
    plan = target.plan
    metrics: Metrics = {}
    path = target.v1 + "/embeddings"
    for batch in plan.embed_batches:
        # Distinct inputs, so no peer can answer from a cache of the previous request.
        texts = [f"{target.prompts[i % len(target.prompts)]} #{i}" for i in range(batch)]
        body = {"model": target.model_id, "input": texts}
        outcomes, elapsed = await target.closed_loop(
            1, plan.embed_s, lambda c, _i, body=body: timed_request(c, "POST", path, body)
        )
        errors, shed = target.note(outcomes)
        ok = sum(o.ok for o in outcomes)
        metrics[f"embed_b{batch}_inputs_s"] = batch * ok / elapsed if ok else None
        metrics[f"embed_b{batch}_errors"] = errors + shed
    return metrics


async def warm_up(target: Target, role: str, chat: bool) -> None:
    """Lazy initialisation (templates, validators, buffers) must not land in a measurement."""
    connection = target.connect()
    try:
        for _ in range(target.plan.warmup_requests):
            if role == "embed":
                body = {"model": target.model_id, "input": ["warm up", "warm up too"]}
                await timed_request(connection, "POST", target.v1 + "/embeddings", body)
                continue
            body = target.completion(target.prompts[0], 8, True)
            await timed_stream(connection, target.v1 + "/completions", body)
            if chat:
                messages = [{"role": "user", "content": target.prompts[0]}]
                body = {"model": target.model_id, "messages": messages, "max_tokens": 1}
                await timed_request(connection, "POST", target.v1 + "/chat/completions", body)
    finally:
        await connection.close()


async def run_role(target: Target, role: str, chat: bool) -> Metrics:
    await warm_up(target, role, chat)
    if role == "embed":
        metrics = await embeddings(target)
    else:
        metrics = await overhead(target, chat)
        metrics |= await single_stream(target)
        metrics |= await concurrency_levels(target)
    metrics["error_samples"] = list(target.errors)
    return metrics
