"""Embeddings beside streams: a stream's inter-token latency (ITL) p95 and time per token
alone, then while clients keep sending 64-input embedding requests, and the ratios.

The engine embeds a large request in slices between decode steps, so that a stream beside it
keeps its pace instead of waiting for the whole request.

    python -m benchmarks.reliability._embed_beside [--model tiny|gemma3-270m|PATH] [--quick]
        [--streams N] [--tokens N] [--n-ctx N]

starts its own server on that model (the reliability run uses the tiny model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from inferno.launcher import reference_server_process
from inferno.stats import percentile
from reference_server.tiny_model import TINY_MODEL_ID, ensure_tiny_model

from .._client import Outcome, decode_rate, timed_request, timed_stream
from .._model import inspect, resolve
from .._rawhttp import RawConnection
from .._workloads import GREEDY
from ._plan import QUICK, Plan

INPUTS = 64  # inputs per embedding request
EMBED_CLIENTS = 2  # back to back, so that one is always waiting while the other is embedded
MAX_RATIO = 2.0  # the criterion: ITL p95 beside embeddings at most this many times alone
TIMEOUT_S = 300.0
POLL_S = 0.005
SETTLE_S = 0.05
PROMPT = "Write a long story about a lighthouse keeper and the ships that pass by at night."
SENTENCE = "the quick brown fox jumps over a lazy dog near the river bank at dawn"
WORDS = SENTENCE.split()


def inputs(request: int) -> list[str]:
    """64 distinct inputs of 8 to 23 words, so that no cache could answer a repeat."""
    return [
        " ".join(WORDS[(i + j) % len(WORDS)] for j in range(8 + i % 16)) + f" #{request}.{i}"
        for i in range(INPUTS)
    ]


def summary(alone: list[Outcome], beside: list[Outcome], embeds: list[Outcome]) -> dict[str, Any]:
    """The figures of one measurement; `holds` when both ratios are within MAX_RATIO and every
    request was answered.

    ITL is per content event, and a server that falls behind its reader sends several tokens
    in one event: the time per token after the first (TPOT) shows a stream slowed down by
    fewer, larger events, which the ITL alone would hide."""
    alone_p95, beside_p95 = _p(alone, 95), _p(beside, 95)
    ratio = _ratio(beside_p95, alone_p95)
    alone_tpot, beside_tpot = _tpot(alone), _tpot(beside)
    tpot_ratio = _ratio(beside_tpot, alone_tpot)
    failed = [o for o in (*alone, *beside, *embeds) if not o.ok]
    errors = len(failed)
    return {
        "streams": len(alone),
        "tokens_alone": sum(o.output_tokens for o in alone),
        "tokens_beside": sum(o.output_tokens for o in beside),
        "itl_p50_alone_ms": _ms(_p(alone, 50)),
        "itl_p50_beside_ms": _ms(_p(beside, 50)),
        "itl_p95_alone_ms": _ms(alone_p95),
        "itl_p95_beside_ms": _ms(beside_p95),
        "ratio": ratio,
        "tpot_alone_ms": _ms(alone_tpot),
        "tpot_beside_ms": _ms(beside_tpot),
        "tpot_ratio": tpot_ratio,
        "embedding_requests": len(embeds),
        "embedded_inputs": INPUTS * sum(o.ok for o in embeds),
        "errors": errors,
        "error_examples": sorted({str(o.error or o.status) for o in failed})[:3],
        "holds": all(r is not None and r <= MAX_RATIO for r in (ratio, tpot_ratio))
        and not errors
        and bool(embeds),
    }


def _p(outcomes: list[Outcome], pct: float) -> float | None:
    return percentile((gap for o in outcomes if o.ok for gap in o.itl_s), pct)


def _tpot(outcomes: list[Outcome]) -> float | None:
    """The median over the streams of the time per token after the first."""
    rates = [decode_rate(o) for o in outcomes if o.ok]
    rate = percentile(rates, 50)
    return 1.0 / rate if rate else None


def _ratio(beside: float | None, alone: float | None) -> float | None:
    return round(beside / alone, 2) if alone and beside is not None else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def end_tokens(path: Path) -> list[int]:
    """The end-of-generation token ids a GGUF names: banned, so that every stream runs for
    its full length (a model that ends after a few tokens leaves no gaps to time)."""
    import gguf

    fields = gguf.GGUFReader(str(path)).fields
    found = (fields.get(f"tokenizer.ggml.{name}_token_id") for name in ("eos", "eot", "eom"))
    return [int(field.contents()) for field in found if field is not None]


async def measure(base_url: str, model_id: str, plan: Plan, banned: list[int]) -> dict[str, Any]:
    streams, max_tokens = plan.embed_streams, plan.embed_stream_tokens
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    def connect() -> RawConnection:
        return RawConnection(host, port, TIMEOUT_S)

    stream_body = {"model": model_id, "prompt": PROMPT, "max_tokens": max_tokens, **GREEDY}
    stream_body |= {"stream": True, "stream_options": {"include_usage": True}}
    stream_body["logit_bias"] = {str(token): -100 for token in banned}

    async def run_stream() -> Outcome:
        connection = connect()
        try:
            return await timed_stream(connection, "/v1/completions", stream_body)
        finally:
            await connection.close()

    embeds: list[Outcome] = []
    in_flight = [0]
    go, stop = asyncio.Event(), asyncio.Event()

    async def embed_client(client: int) -> None:
        connection = connect()
        try:
            for request in range(100_000):  # bounded: ends long before, when `stop` is set
                await go.wait()
                if stop.is_set():
                    return
                text = inputs(client * 100_000 + request)
                # base64, as the openai SDK asks by default.
                body = {"model": model_id, "input": text, "encoding_format": "base64"}
                in_flight[0] += 1
                try:
                    embeds.append(await timed_request(connection, "POST", "/v1/embeddings", body))
                finally:
                    in_flight[0] -= 1
        finally:
            await connection.close()

    # Lazy initialisation (the embedding context among it) must not land in a measurement.
    await run_stream()
    warm = connect()
    await timed_request(warm, "POST", "/v1/embeddings", {"model": model_id, "input": inputs(-1)})
    await warm.close()
    clients = [asyncio.create_task(embed_client(c)) for c in range(EMBED_CLIENTS)]
    alone: list[Outcome] = []
    beside: list[Outcome] = []
    try:
        # Alone and beside in turns, so that a change in the machine's load meanwhile falls on
        # both alike.
        for _ in range(streams):
            go.clear()
            for _ in range(int(TIMEOUT_S / POLL_S)):  # the embedding requests sent are answered
                if not in_flight[0]:
                    break
                await asyncio.sleep(POLL_S)
            alone.append(await run_stream())
            go.set()
            await asyncio.sleep(SETTLE_S)  # the embedding requests reach the engine
            beside.append(await run_stream())
    finally:
        stop.set()
        go.set()
        await asyncio.gather(*clients, return_exceptions=True)
    return summary(alone, beside, embeds)


def run(base_url: str, plan: Plan, log: Any) -> dict[str, Any]:
    """The reliability section, against a server on the tiny model."""
    banned = end_tokens(ensure_tiny_model())
    result = asyncio.run(measure(base_url, TINY_MODEL_ID, plan, banned))
    log(
        f"embeddings beside streams: ITL p95 {result['itl_p95_alone_ms']} ms alone, "
        f"{result['itl_p95_beside_ms']} ms beside embeddings (×{result['ratio']})"
    )
    return result


def criterion(section: dict[str, Any]) -> tuple[str, str, bool]:
    return (
        f"9 embeddings beside streams: a stream's ITL p95 (and time per token) while clients "
        f"keep sending {INPUTS}-input embedding requests ≤ {MAX_RATIO:g}× alone",
        f"ITL p95 {section['itl_p95_alone_ms']} ms alone, {section['itl_p95_beside_ms']} ms "
        f"beside embeddings: ×{section['ratio']}; time per token ×{section['tpot_ratio']}; "
        f"{section['errors']} errors",
        section["holds"],
    )


def markdown(section: dict[str, Any]) -> list[str]:
    streams = max(1, section["streams"])
    return [
        f"{section['streams']} streamed completions of {section['tokens_alone'] // streams} "
        f"tokens each timed alone, and as many in turn with them while {EMBED_CLIENTS} clients "
        f"send {INPUTS}-input embedding requests back to back ({section['embedding_requests']} "
        "requests meanwhile). ITL: the gaps between a stream's content events.",
        "",
        "| | ITL p50 | ITL p95 | time per token (median) | tokens |",
        "|---|---|---|---|---|",
        f"| alone | {section['itl_p50_alone_ms']} ms | {section['itl_p95_alone_ms']} ms | "
        f"{section['tpot_alone_ms']} ms | {section['tokens_alone']} |",
        f"| beside embeddings | {section['itl_p50_beside_ms']} ms | "
        f"{section['itl_p95_beside_ms']} ms | {section['tpot_beside_ms']} ms | "
        f"{section['tokens_beside']} |",
        "",
        f"Ratios: ITL p95 ×{section['ratio']}, time per token ×{section['tpot_ratio']}. "
        "Another model: `python -m benchmarks.reliability._embed_beside --model gemma3-270m "
        "--n-ctx 2048`.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability._embed_beside")
    parser.add_argument("--model", default="tiny", help="tiny, gemma3-270m or a GGUF path")
    parser.add_argument("--quick", action="store_true", help="the reliability run's quick plan")
    parser.add_argument("--streams", type=int, help="streams timed alone, and as many beside")
    parser.add_argument("--tokens", type=int, help="tokens per stream")
    parser.add_argument(
        "--n-ctx", type=int, default=0, help="the server's --n-ctx (0: the model's)"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    plan = replace(
        plan,
        embed_streams=args.streams or plan.embed_streams,
        embed_stream_tokens=args.tokens or plan.embed_stream_tokens,
    )
    info = inspect(resolve(args.model))
    served = ["--model", str(info.path), "--model-id", info.model_id, "--n-ctx", str(args.n_ctx)]
    with reference_server_process(served) as server:
        result = asyncio.run(measure(server.base_url, info.model_id, plan, end_tokens(info.path)))
    print(json.dumps({"model": info.name} | result, indent=1))
    return 0 if result["holds"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
