"""The raw library in-process: the ceiling a Python server on llama-cpp-python can reach.

Also picks the prompts: greedy decoding must not stop early, or peers would be compared on
completions of different lengths. Run as a subprocess so its model copy leaves with it:

    python -m benchmarks._library screen|ceiling --model PATH --n-ctx N --threads T ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Varied openings: with greedy decoding each gives its own continuation, so concurrent streams
# are not one request repeated (which a prefix cache would turn into a single computation).
CANDIDATE_PROMPTS = (
    "Once upon a time",
    "The history of the city begins",
    "In a quiet village by the sea, an old fisherman",
    "The recipe starts with flour, water and",
    "Chapter one. The train left the station",
    "Scientists studying the northern lights found",
    "The museum opened its doors in",
    "My grandmother always said that",
    "The report on the river describes",
    "At the edge of the forest there was",
    "The committee met on Tuesday to discuss",
    "Long ago, the mountain people believed",
    "The engineer looked at the bridge and",
    "Every morning the baker",
    "The letter arrived on a rainy day",
    "Far beyond the desert lay",
)
MAX_LEVEL_PROMPTS = 4
ROOT = Path(__file__).resolve().parent.parent
LIBRARY_TIMEOUT_S = 900


def _load(model: str, n_ctx: int, threads: int) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=model, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
    )


def screen(llm: Any, single_tokens: int, level_tokens: int) -> list[str]:
    """First prompt: reaches single_tokens greedily; the rest reach level_tokens."""

    def reaches(prompt: str, tokens: int) -> bool:
        out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0)
        return out["choices"][0]["finish_reason"] == "length"

    # Bounded: each candidate is tried at most twice, with at most single_tokens tokens.
    first = next((p for p in CANDIDATE_PROMPTS if reaches(p, single_tokens)), CANDIDATE_PROMPTS[0])
    chosen = [first]
    for prompt in CANDIDATE_PROMPTS:
        if len(chosen) > MAX_LEVEL_PROMPTS:
            break
        if prompt != first and reaches(prompt, level_tokens):
            chosen.append(prompt)
    return chosen


def ceiling(llm: Any, prompt: str, tokens: int, repeats: int) -> dict[str, float | None]:
    ttfts, rates, counts, e2es, e2e_rates = [], [], [], [], []
    # Every server keeps the previous prompt's KV cache and reuses the common prefix; the
    # library does the same (generate() matches the prefix). One unmeasured call warms it,
    # as the warm-up requests warm each server.
    for _chunk in llm.create_completion(prompt, max_tokens=2, temperature=0.0, stream=True):
        pass
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        first = done = None
        generated = 0
        for chunk in llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True):
            now = time.perf_counter()
            choice = chunk["choices"][0]
            if choice["finish_reason"] is not None:
                done = now
                break
            generated += 1  # one chunk per sampled token (text may be held back: still a token)
            if first is None and choice["text"]:
                first = now
        if first is None or done is None or generated < 2:
            continue
        ttfts.append((first - start) * 1000.0)
        rates.append((generated - 1) / (done - first))
        counts.append(generated)
        e2es.append((done - start) * 1000.0)
        e2e_rates.append(generated / (done - start))
    median = statistics.median
    return {
        "single_ttft_ms": median(ttfts) if ttfts else None,
        "single_decode_tok_s": median(rates) if rates else None,
        "single_output_tokens": median(counts) if counts else None,
        "single_e2e_ms": median(e2es) if e2es else None,
        "single_e2e_tok_s": median(e2e_rates) if e2e_rates else None,
        **generate_loop(llm, prompt, tokens, repeats),
    }


def generate_loop(llm: Any, prompt: str, tokens: int, repeats: int) -> dict[str, float | None]:
    """`Llama.generate`, the token loop under create_completion: no text, no stop checks.

    A server that drives this loop itself (as the reference server does) can beat
    create_completion, so both are reported.
    """
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
    ttfts, rates, e2es, e2e_rates = [], [], [], []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        first = last = None
        count = 0
        for _token in llm.generate(ids, temp=0.0, reset=True):
            last = time.perf_counter()
            first = first or last
            count += 1
            if count >= tokens:
                break
        if first is None or last is None or count < 2 or last <= first:
            continue
        ttfts.append((first - start) * 1000.0)
        rates.append((count - 1) / (last - first))
        e2es.append((last - start) * 1000.0)
        e2e_rates.append(count / (last - start))
    median = statistics.median
    return {
        "generate_ttft_ms": median(ttfts) if ttfts else None,
        "generate_decode_tok_s": median(rates) if rates else None,
        "generate_e2e_ms": median(e2es) if e2es else None,
        "generate_e2e_tok_s": median(e2e_rates) if e2e_rates else None,
    }


class LibraryCrash(RuntimeError):
    """llama.cpp itself died (a signal), as opposed to a Python error."""


def run(
    mode: str, model: str, n_ctx: int, threads: int, no_repack: bool = False, **options: Any
) -> dict[str, Any]:
    """Run this module as a subprocess and return its JSON answer."""
    command = [sys.executable, "-m", "benchmarks._library", mode, "--model", model]
    command += ["--n-ctx", str(n_ctx), "--threads", str(threads)]
    if no_repack:
        command.append("--no-repack")
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=LIBRARY_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    if done.returncode < 0:
        raise LibraryCrash(f"library {mode} killed by signal {-done.returncode}")
    if done.returncode != 0:
        raise RuntimeError(f"library {mode} failed: {(done.stderr or done.stdout)[-1000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._library")
    parser.add_argument("mode", choices=("screen", "ceiling"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--n-ctx", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--single-tokens", type=int, default=128)
    parser.add_argument("--level-tokens", type=int, default=64)
    parser.add_argument("--prompt", default=CANDIDATE_PROMPTS[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-repack", action="store_true")
    args = parser.parse_args(argv)
    if args.no_repack:
        from ._norepack import disable_repack

        disable_repack()
    llm = _load(args.model, args.n_ctx, args.threads)
    if args.mode == "screen":
        result: dict[str, Any] = {"prompts": screen(llm, args.single_tokens, args.level_tokens)}
    else:
        result = ceiling(llm, args.prompt, args.single_tokens, args.repeats)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
