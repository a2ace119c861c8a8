"""`python -m benchmarks.memory`: the reference server's resident memory with a model loaded at
its own context, for a number of sequences.

Starts `python -m reference_server serve --model M --parallel P` (no `--n-ctx` unless given: the
model's own context), reads the process's RSS once it is ready, sends one streamed completion
per sequence at once (a long prompt, so prefill and decoding touch the KV cache), and reads
RSS again and the peak (VmHWM). Prints one Markdown table; the figures go to
docs/performance.md by hand, with the command.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from inferno.launcher import reference_server_process, rss_bytes

from . import _model

WORDS = ["the", "lighthouse", "keeper", "watched", "the", "sea"]
MAX_TOKENS = 32
REQUEST_TIMEOUT_S = 600.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--model", default="gemma3-270m", help="tiny | gemma3-270m | a GGUF path")
    parser.add_argument("--parallel", type=int, default=4, help="sequences (default 4)")
    parser.add_argument("--n-ctx", type=int, default=0, help="per sequence (default: model's)")
    parser.add_argument("--threads", type=int, default=0, help="default: the server's rule")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = _model.resolve(args.model)
    info = _model.inspect(path)
    n_ctx = args.n_ctx or info.context_length
    command = ["--model", str(path), "--model-id", info.model_id, "--parallel", str(args.parallel)]
    if args.n_ctx:
        command += ["--n-ctx", str(args.n_ctx)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    started = time.monotonic()
    with reference_server_process(command, startup_timeout=600.0) as server:
        assert server.pid is not None
        loaded_s = time.monotonic() - started
        ready = rss_bytes(server.pid)

        # About an eighth of the context in words: a long prefill that fits any tokenizer.
        prompt = " ".join(WORDS[i % len(WORDS)] for i in range(n_ctx // 8))

        def one(_: int) -> int:
            body = {"model": info.model_id, "prompt": prompt, "max_tokens": MAX_TOKENS}
            response = httpx.post(
                server.base_url + "/v1/completions", json=body, timeout=REQUEST_TIMEOUT_S
            )
            response.raise_for_status()
            return int(response.json()["usage"]["prompt_tokens"])

        with ThreadPoolExecutor(args.parallel) as pool:
            prompt_tokens = list(pool.map(one, range(args.parallel)))
        served = rss_bytes(server.pid)
        peak = rss_bytes(server.pid, "VmHWM")
    mib = 2**20
    print(
        f"model `{path.name}` ({info.size_bytes / mib:.1f} MiB on disk), context {n_ctx} per "
        f"sequence, --parallel {args.parallel} (a KV cache of {n_ctx * args.parallel} cells); "
        f"loaded and ready in {loaded_s:.1f} s\n"
    )
    print("| RSS when ready | RSS after one request per sequence | peak RSS | prompt tokens |")
    print("|---|---|---|---|")
    print(
        f"| {ready / mib:,.0f} MiB | {served / mib:,.0f} MiB | {peak / mib:,.0f} MiB | "
        f"{prompt_tokens[0]} × {len(prompt_tokens)} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
