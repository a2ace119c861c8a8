"""The reference server's engine driven in-process, without HTTP: closed-loop streams, a long
prompt arriving beside decoding streams, and the two determinism checks the engine pays for.

Every request has a deadline and every loop a deadline or a count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferno.stats import percentile
from reference_server.engine import (
    BatchingEngine,
    GenerationDone,
    GenerationRequest,
    SamplingParams,
    TextDelta,
)

from ._stats import ms

REQUEST_TIMEOUT_S = 300.0
MAX_REQUESTS_PER_WORKER = 100_000
LOAD_TIMEOUT_S = 180.0
INLINE_IDLE_S = 0.0002
# The long-prompt workload: decoders start, settle, are watched calm, then the prompt arrives.
WARM_S, CALM_S, AFTER_S = 2.0, 3.0, 0.5

Prompt = tuple[int, ...]


@dataclass
class Outcome:
    ttft_s: float | None = None
    tokens: int = 0
    text: str = ""
    itl: list[tuple[float, float]] = field(default_factory=list)  # (time of token, gap)


async def one(
    engine: BatchingEngine, prompt: Prompt, max_tokens: int, outcome: Outcome | None = None
) -> Outcome:
    """One greedy generation; TTFT and gaps are measured where a handler would read them, into
    `outcome` as they come when one is given."""
    request = GenerationRequest(prompt, SamplingParams(max_tokens=max_tokens, temperature=0.0))
    outcome = outcome or Outcome()
    parts: list[str] = []
    start = last = time.perf_counter()
    stream = engine.generate(request)
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            async for event in stream:
                if type(event) is TextDelta and event.text:
                    now = time.perf_counter()
                    if outcome.ttft_s is None:
                        outcome.ttft_s = now - start
                    else:
                        outcome.itl.append((now, now - last))
                    last = now
                    parts.append(event.text)
                elif type(event) is GenerationDone:
                    outcome.tokens = event.completion_tokens
    finally:
        await stream.aclose()
    outcome.text = "".join(parts)
    return outcome


async def closed_loop(
    engine: BatchingEngine, prompts: Sequence[Prompt], streams: int, duration_s: float, tokens: int
) -> dict[str, float | None]:
    """`streams` workers send back to back until the deadline; started requests finish. Worker
    i sends prompts i, i + streams, ...: with more prompts than sequences, most are decoded
    from a cold cache, where prefill costs show."""
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker(index: int) -> None:
        for k in range(MAX_REQUESTS_PER_WORKER):
            prompt = prompts[(index + k * streams) % len(prompts)]
            outcomes.append(await one(engine, prompt, tokens))
            if time.perf_counter() >= deadline:
                return

    await asyncio.gather(*(worker(i) for i in range(streams)))
    elapsed = time.perf_counter() - start
    return {
        "tok_s": sum(o.tokens for o in outcomes) / elapsed,
        "ttft_p50_ms": ms(percentile([o.ttft_s for o in outcomes if o.ttft_s], 50)),
        "ttft_p95_ms": ms(percentile([o.ttft_s for o in outcomes if o.ttft_s], 95)),
        "itl_p95_ms": ms(percentile([gap for o in outcomes for _, gap in o.itl], 95)),
        "requests": len(outcomes),
    }


async def prefill_beside_decoding(
    engine: BatchingEngine, prompts: Sequence[Prompt], long_prompt: Prompt, streams: int
) -> dict[str, float | None]:
    """ITL p95 of `streams` decoding streams before, and while, a long prompt is prefilled."""
    live: list[Outcome] = []
    stop = asyncio.Event()

    async def decoder(index: int) -> None:
        # Back to back, so that every stream is still decoding when the long prompt comes.
        for k in range(MAX_REQUESTS_PER_WORKER):
            if stop.is_set():
                return
            live.append(Outcome())
            await one(engine, prompts[(index + k * streams) % len(prompts)], 256, live[-1])

    decoders = [asyncio.ensure_future(decoder(i)) for i in range(streams)]
    try:
        await asyncio.sleep(WARM_S)
        calm_from = time.perf_counter()
        await asyncio.sleep(CALM_S)
        arrived = time.perf_counter()
        newcomer = await one(engine, long_prompt, 1)
        prefilled = arrived + (newcomer.ttft_s or 0.0)
        await asyncio.sleep(AFTER_S)
    finally:
        stop.set()
        for task in decoders:
            task.cancel()
        await asyncio.gather(*decoders, return_exceptions=True)
    calm = [gap for o in live for at, gap in o.itl if calm_from <= at < arrived]
    during = [gap for o in live for at, gap in o.itl if arrived < at <= prefilled + AFTER_S]
    before, while_ = percentile(calm, 95), percentile(during, 95)
    return {
        "itl_p95_before_ms": ms(before),
        "itl_p95_during_ms": ms(while_),
        "ratio": while_ / before if before and while_ else None,
        "itl_max_during_ms": ms(max(during)) if during else None,
        "long_prompt_tokens": len(long_prompt),
        "long_prompt_ttft_ms": ms(newcomer.ttft_s),
    }


async def single_beside_idle_caches(
    engine: BatchingEngine, texts: Sequence[str], tokens: int, repeats: int = 4
) -> dict[str, float | None]:
    """Decode tok/s of one stream with the other sequences empty, then after each of them left
    a short cache (its prompt and `tokens` tokens), then a long one (its prompt 30 times and
    `2 × tokens`). Each measured prompt ends in its own number: never a cached start."""
    others = [tuple(engine.tokenize(t)) for t in texts[1 : engine.parallel]]

    async def single() -> float | None:
        rates = []
        for i in range(repeats):
            outcome = await one(engine, tuple(engine.tokenize(f"{texts[0]} ({i})")), tokens)
            if outcome.itl:  # events may carry several tokens: tokens over the time they took
                (last, _), (second, gap) = outcome.itl[-1], outcome.itl[0]
                if last > second - gap:
                    rates.append((outcome.tokens - 1) / (last - (second - gap)))
        return percentile(rates, 50)

    result = {"empty": await single()}
    await asyncio.gather(*(one(engine, p, tokens) for p in others))
    result["short_idle_caches"] = await single()
    await asyncio.gather(*(one(engine, p * 30, 2 * tokens) for p in others))
    result["long_idle_caches"] = await single()
    return result


async def determinism(
    engine: BatchingEngine, prompts: Sequence[Prompt], checked: int, tokens: int
) -> dict[str, bool]:
    """`repeat`: each checked prompt twice in a row, the second time from the prompt cache.
    `batch`: the same prompts started together with the others, against their text alone."""
    alone, again = [], []
    for prompt in prompts[:checked]:
        alone.append((await one(engine, prompt, tokens)).text)
        again.append((await one(engine, prompt, tokens)).text)
    together = await asyncio.gather(*(one(engine, p, tokens) for p in prompts))
    return {
        "repeat": alone == again,
        "batch": [o.text for o in together[:checked]] == alone,
    }


async def run_engine(
    load: Callable[[], Any],
    work: Callable[[BatchingEngine], Awaitable[Any]],
    *,
    threaded: bool,
    parallel: int,
) -> Any:
    """`work(engine)` on an engine over `load()`: on its own thread as the server runs it, or
    stepped on this event loop between reads (no hand-off between threads)."""
    engine = BatchingEngine(load, max_queue=4 * parallel, stream_buffer=32, stall_timeout=60.0)
    if threaded:
        engine.start()
        try:
            if not await asyncio.to_thread(engine.wait_ready, LOAD_TIMEOUT_S):
                raise RuntimeError(f"engine did not load: {engine.load_error}")
            return await work(engine)
        finally:
            engine.stop()
            await asyncio.to_thread(engine.join, LOAD_TIMEOUT_S)
    if not engine.load():
        raise RuntimeError(f"engine did not load: {engine.load_error}")
    stop = asyncio.Event()
    stepper = asyncio.ensure_future(_step_inline(engine, stop))
    try:
        return await work(engine)
    finally:
        stop.set()
        await stepper
        engine.close_unthreaded()


async def _step_inline(engine: BatchingEngine, stop: asyncio.Event) -> None:
    while not stop.is_set():
        worked = engine.run_once()
        # Three turns of the loop: the wake callback, then the readers it resumed.
        for _ in range(3):
            await asyncio.sleep(0)
        if not worked:
            await asyncio.sleep(INLINE_IDLE_S)
