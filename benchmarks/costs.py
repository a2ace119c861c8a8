"""What each cost of the reference server's engine costs, switched off one at a time, in one run.

    python -m benchmarks.costs --model gemma3-270m      # or tiny, or a GGUF path

In-process (the engine as the server builds it, no HTTP), each variant switches off one thing
from the engine with every determinism cost paid: the padding row of one-token steps, the
logits kept for each prompt's last token (an exact repeat starts from them instead of
decoding that token again), llama.cpp's sampler chain for greedy requests, and the hand-off of
events from the engine thread to the event loop; one more turns flash attention on (the
server's default, off under `--batch-invariant`). Each reports closed-loop tok/s and TTFT at 1
and 8 streams, and the two determinism checks: `repeat` (a temperature-0 request twice in a
row gives the same text; the second finds its prompt cached) and `batch` (the same text alone
as started beside others). Then the HTTP path: a real server with the defaults, the same
streams over HTTP, `/v1/models` req/s and the 1-token latency. Last, a long prompt arriving
while 7 streams decode, at each prefill budget in `--prefill`, and one stream's decode speed
as the other sequences leave idle caches in the shared KV cache, with plain attention and with
flash attention.

These switches are benchmark options only; what the server offers is in `docs/performance.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _inprocess, _machine, _model
from ._client import timed_stream
from ._library import CANDIDATE_PROMPTS
from ._plan import Plan
from ._report import markdown_table
from ._server import peer_server, pick_port
from ._workloads import Target, overhead, stream_figures

STREAMS = (1, 8)
CHECKED_PROMPTS, CHECK_TOKENS, CHECK_SUFFIX = 4, 128, "as the story goes"
LONG_PROMPT_TOKENS = 1500
RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    pad: bool = True  # the padding row, where the load probe finds one-row steps differ
    kept_logits: bool = True  # an exact repeat starts from its prompt's kept last logits
    chain: bool = True  # greedy through llama.cpp's sampler chain (False: argmax of the row)
    threaded: bool = True  # the engine thread hands events to the loop (False: stepped inline)
    prefill_chunk: int = 0  # prompt tokens a step may carry beside decoding ones (0: n_batch)
    flash_attention: bool = False  # off: a sequence's logits do not depend on its cells' places


ALL_ON = Variant("every cost paid")
FLASH = dataclasses.replace(ALL_ON, name="with flash attention", flash_attention=True)
VARIANTS = (
    ALL_ON,
    dataclasses.replace(ALL_ON, name="without the padding row", pad=False),
    dataclasses.replace(ALL_ON, name="without the kept prompt logits", kept_logits=False),
    dataclasses.replace(ALL_ON, name="without the sampler chain (argmax)", chain=False),
    dataclasses.replace(ALL_ON, name="without the hand-off (stepped inline)", threaded=False),
    FLASH,
)
# What `serve` runs without options (greedy by argmax, no padding, flash attention).
DEFAULTS = Variant("the server's defaults", pad=False, chain=False, flash_attention=True)
# Idle caches cost what attention over them costs: measured under both kinds.
IDLE_VARIANTS = {"plain attention": ALL_ON, "flash attention": FLASH}


def loader(path: Path, args: argparse.Namespace, variant: Variant) -> Callable[[], Any]:
    from reference_server.engine import LlamaBackend, LlamaOptions

    options = LlamaOptions(
        model_path=str(path),
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        parallel=args.parallel,
        n_batch=args.n_batch,
        batch_invariant=variant.pad,
        prefill_chunk=variant.prefill_chunk,
        flash_attention=variant.flash_attention,
    )

    def load() -> Any:
        backend = LlamaBackend(options)
        backend.greedy_argmax = not variant.chain
        if not variant.kept_logits:
            backend.facts = dataclasses.replace(backend.facts, keeps_prompt_logits=False)
        return backend

    return load


def measure_variant(
    path: Path, args: argparse.Namespace, variant: Variant, checks: bool
) -> dict[str, Any]:
    async def work(engine: Any) -> dict[str, Any]:
        prompts = [tuple(engine.tokenize(p)) for p in CANDIDATE_PROMPTS]
        backend = engine._backend  # the load probe's answer, for the record
        result: dict[str, Any] = {
            "single_rows_differ": backend.single_rows_differ,
            "pads": backend.pad_single_rows,
        }
        await _inprocess.one(engine, tuple(engine.tokenize("Hello")), 4)  # warm-up
        for streams in STREAMS:
            result[f"c{streams}"] = await _inprocess.closed_loop(
                engine, prompts, streams, args.duration, args.tokens
            )
        if checks:  # prompts of their own: the first time each is decoded from a cold cache
            fresh = [tuple(engine.tokenize(f"{p}, {CHECK_SUFFIX}")) for p in CANDIDATE_PROMPTS]
            result["checks"] = await _inprocess.determinism(
                engine, fresh[: args.parallel], CHECKED_PROMPTS, CHECK_TOKENS
            )
        return result

    return asyncio.run(
        _inprocess.run_engine(
            loader(path, args, variant), work, threaded=variant.threaded, parallel=args.parallel
        )
    )


def measure_prefill(path: Path, args: argparse.Namespace, chunk: int) -> dict[str, Any]:
    variant = dataclasses.replace(DEFAULTS, prefill_chunk=chunk)

    async def work(engine: Any) -> dict[str, Any]:
        prompts = [tuple(engine.tokenize(p)) for p in CANDIDATE_PROMPTS]
        text = " ".join(CANDIDATE_PROMPTS) * 40
        budget = min(LONG_PROMPT_TOKENS, engine.n_ctx - 8)
        long_prompt = tuple(engine.tokenize(text)[:budget])
        return await _inprocess.prefill_beside_decoding(
            engine, prompts, long_prompt, args.parallel - 1
        )

    return asyncio.run(
        _inprocess.run_engine(loader(path, args, variant), work, threaded=True, parallel=8)
    )


def measure_idle_caches(path: Path, args: argparse.Namespace, variant: Variant) -> dict[str, Any]:
    async def work(engine: Any) -> dict[str, Any]:
        return await _inprocess.single_beside_idle_caches(
            engine, CANDIDATE_PROMPTS, 2 * args.tokens
        )

    return asyncio.run(
        _inprocess.run_engine(loader(path, args, ALL_ON), work, threaded=True, parallel=8)
    )


def measure_http(path: Path, args: argparse.Namespace, model_id: str) -> dict[str, Any]:
    port = pick_port()
    command = [
        sys.executable, "-m", "reference_server", "serve", "--model", str(path),
        "--model-id", model_id, "--port", str(port), "--n-ctx", str(args.n_ctx),
        "--threads", str(args.threads), "--parallel", str(args.parallel),
        "--n-batch", str(args.n_batch),
    ]  # fmt: skip
    probe = ("POST", "/v1/completions", {"model": model_id, "prompt": "ready?", "max_tokens": 1})
    plan = Plan(level_tokens=args.tokens)
    result: dict[str, Any] = {}
    with peer_server(command, port, probe) as server:
        target = Target(server.base_url, model_id, plan, list(CANDIDATE_PROMPTS))
        for streams in STREAMS:
            result[f"c{streams}"] = asyncio.run(_http_streams(target, streams, args.duration))
        figures = asyncio.run(overhead(target, chat=False))
    result["models_rps"] = figures["models_c16_rps"]
    result["one_token_p50_ms"] = figures["one_token_p50_ms"]
    result["errors"] = target.errors
    return result


async def _http_streams(target: Target, streams: int, duration_s: float) -> dict[str, Any]:
    """The in-process closed loop over HTTP: worker i sends prompt i, i + streams, ..."""
    sent = [0] * streams
    path = target.v1 + "/completions"

    def send(connection: Any, index: int) -> Any:
        prompt = target.prompts[(index + sent[index] * streams) % len(target.prompts)]
        sent[index] += 1
        return timed_stream(
            connection, path, target.completion(prompt, target.plan.level_tokens, True)
        )

    outcomes, elapsed = await target.closed_loop(streams, duration_s, send)
    target.note(outcomes)
    figures = stream_figures(outcomes, elapsed)
    figures["tok_s"] = figures.pop("agg_tok_s")  # the in-process variants' name
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    path = _model.resolve(args.model)
    info = _model.inspect(path)
    args.threads = args.threads or _model.default_threads(info, os.cpu_count() or 1)
    args.n_ctx = args.n_ctx or _model.default_n_ctx(info)
    started = time.monotonic()

    def wanted(workload: str) -> bool:  # --only one workload leaves out the others
        return args.only in (None, workload)

    names = [v.name for v in VARIANTS] + ["HTTP (server defaults)"] if wanted("variants") else []
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    prefill: dict[int, list[dict[str, Any]]] = {
        chunk: [] for chunk in (args.prefill if wanted("prefill") else [])
    }
    idle: dict[str, list[dict[str, Any]]] = {
        name: [] for name in (IDLE_VARIANTS if wanted("idle") else {})
    }
    for r in range(args.rounds):
        # The order rotates each round, so a slow spell hits each variant in another place.
        turn = r % max(1, len(names)) if names else r
        order = names[turn:] + names[:turn]
        for name in order:
            print(f"round {r + 1}/{args.rounds}: {name}", flush=True)
            if name in rounds and name.startswith("HTTP"):
                rounds[name].append(measure_http(path, args, info.model_id))
                continue
            variant = next(v for v in VARIANTS if v.name == name)
            rounds[name].append(measure_variant(path, args, variant, checks=r == 0))
        for chunk in prefill:
            print(f"round {r + 1}/{args.rounds}: long prompt, prefill budget {chunk}", flush=True)
            prefill[chunk].append(measure_prefill(path, args, chunk))
        first = turn % max(1, len(idle))
        for name in list(idle)[first:] + list(idle)[:first]:
            print(f"round {r + 1}/{args.rounds}: one stream beside idle caches, {name}", flush=True)
            idle[name].append(measure_idle_caches(path, args, IDLE_VARIANTS[name]))
    return {
        "command": " ".join(["python -m benchmarks.costs", *sys.argv[1:]]),
        "machine": _machine.describe(),
        "model": {"path": str(path), "id": info.model_id, "n_ctx": args.n_ctx},
        "threads": args.threads,
        "parallel": args.parallel,
        "rounds": args.rounds,
        "minutes": round((time.monotonic() - started) / 60, 1),
        "variants": rounds,
        "prefill": {str(k): v for k, v in prefill.items()},
        "idle_caches": idle,
    }


def _median(runs: list[dict[str, Any]], *keys: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(results: dict[str, Any]) -> str:
    lines = [
        f"`{results['command']}` ({results['rounds']} rounds, "
        f"{results['minutes']} min); model `{Path(results['model']['path']).name}`, n_ctx "
        f"{results['model']['n_ctx']}, {results['threads']} thread(s), {results['parallel']} "
        "sequences. Medians over rounds.",
    ]
    variants = results["variants"]
    if variants:
        header = [
            "variant", "c=1 tok/s", "c=1 TTFT p50 ms", "c=8 tok/s", "c=8 TTFT p95 ms",
            "c=8 ITL p95 ms", "repeat", "batch",
        ]  # fmt: skip
        rows = [
            [
                name,
                _fmt(_median(runs, "c1", "tok_s")),
                _fmt(_median(runs, "c1", "ttft_p50_ms"), 2),
                _fmt(_median(runs, "c8", "tok_s")),
                _fmt(_median(runs, "c8", "ttft_p95_ms")),
                _fmt(_median(runs, "c8", "itl_p95_ms")),
                _check(runs[0].get("checks", {}).get("repeat")),
                _check(runs[0].get("checks", {}).get("batch")),
            ]
            for name, runs in variants.items()
        ]
        lines += ["", *markdown_table(header, rows)]
    http = variants.get("HTTP (server defaults)")
    if http:
        lines += [
            "",
            f"HTTP: `/v1/models` {_fmt(_median(http, 'models_rps'), 0)} req/s at 16 "
            f"connections; 1-token completion p50 {_fmt(_median(http, 'one_token_p50_ms'), 2)} ms.",
        ]
    if variants:
        first = next(iter(variants.values()))[0]
        lines += ["", f"Load probe: one-row steps differ: {first['single_rows_differ']}."]
    if results["idle_caches"]:
        idle = results["idle_caches"]
        header = [
            "one stream, decode tok/s", "other sequences empty", "7 short idle caches",
            "7 long idle caches",
        ]  # fmt: skip
        rows = [
            [name]
            + [
                _fmt(_median(runs, key))
                for key in ("empty", "short_idle_caches", "long_idle_caches")
            ]
            for name, runs in idle.items()
        ]
        lines += ["", *markdown_table(header, rows)]
    if results["prefill"]:
        header = [
            "--prefill-chunk", "ITL p95 before ms", "ITL p95 during ms", "ratio",
            "long prompt TTFT ms",
        ]  # fmt: skip
        rows = [
            [
                chunk if chunk != "0" else "measured (default)",
                _fmt(_median(runs, "itl_p95_before_ms")),
                _fmt(_median(runs, "itl_p95_during_ms")),
                _fmt(_median(runs, "ratio"), 2),
                _fmt(_median(runs, "long_prompt_ttft_ms"), 0),
            ]
            for chunk, runs in results["prefill"].items()
        ]
        lines += ["", *markdown_table(header, rows)]
    return "\n".join(lines)


def _check(value: bool | None) -> str:
    return "-" if value is None else ("same" if value else "**differs**")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.costs", description=__doc__)
    parser.add_argument("--model", default="tiny", help="tiny, gemma3-270m or a GGUF path")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per completion")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--n-batch", type=int, default=512)
    parser.add_argument("--n-ctx", type=int, default=0, help="default: the model's, at most 2048")
    parser.add_argument("--threads", type=int, default=0, help="default: the server's rule")
    parser.add_argument(
        "--prefill",
        type=lambda text: [int(x) for x in text.split(",") if x],
        default=[0, 512, 64],
        help="--prefill-chunk values for the long-prompt workload (0: the measured default; "
        "'' for none; default: 0,512,64)",
    )
    parser.add_argument(
        "--only",
        choices=("variants", "prefill", "idle"),
        default=None,
        help="one workload only: the variants and HTTP, the long prompt, or one stream beside "
        "idle caches (default: all three)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    args = parser.parse_args(argv)
    results = run(args)
    kind = f"costs-{args.only}" if args.only else "costs"
    out = args.out or RESULTS / f"{kind}-{time.strftime('%Y-%m-%d')}-{Path(args.model).stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(render(results))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
