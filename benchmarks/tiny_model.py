"""Measure the tiny model: generation time, file size, load time and decode speed.

Run with ``python -m benchmarks.tiny_model [--threads 2] [--tokens 512]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from reference_server import tiny_model


def _load(path: Path, threads: int):
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=0, n_threads=threads, verbose=False)


def measure(threads: int = 2, n_tokens: int = 512, repeats: int = 5) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = tiny_model.ensure_tiny_model(Path(folder))
        generate_s = time.perf_counter() - start
        size = path.stat().st_size

        load_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            llm = _load(path, threads)
            load_times.append(time.perf_counter() - start)

        prompt = llm.tokenize(b"Tell me a story about a dog.", add_bos=True)
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            # </s> is not obeyed here: the point is a fixed number of decode steps.
            sampler = llm.generate(prompt, temp=0.0, reset=True)
            for count, _token in enumerate(sampler, start=1):
                if count >= n_tokens:
                    break
            rates.append(n_tokens / (time.perf_counter() - start))
    return {
        "size_bytes": float(size),
        "generate_s": generate_s,
        "load_s": statistics.median(load_times),
        "decode_tokens_per_s": statistics.median(rates),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiny_model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=512)
    args = parser.parse_args(argv)
    result = measure(threads=args.threads, n_tokens=args.tokens)
    print(f"size:      {int(result['size_bytes'])} bytes")
    print(f"generate:  {result['generate_s'] * 1000:.1f} ms")
    print(f"load:      {result['load_s'] * 1000:.1f} ms (median)")
    print(
        f"decode:    {result['decode_tokens_per_s']:.0f} tokens/s ({args.threads} threads, median)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
