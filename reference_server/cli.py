"""`python -m reference_server`: serve GGUF models with an OpenAI-compatible API."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import _flags
from ._flags import API_KEYS_ENV, MAX_PARALLEL, MAX_THREADS, FlagError, integer, seconds
from .config import ModelConfig, ServerConfig

if TYPE_CHECKING:
    from .registry import EngineFactory

__all__ = ["API_KEYS_ENV", "build_parser", "config_from_args", "config_from_argv", "main"]


def build_parser() -> argparse.ArgumentParser:
    return _build_parsers()[0]


def _build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line and its `serve` subcommand (which refuses bad settings by name)."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_server",
        description="Inferno reference server: an OpenAI-compatible API over llama.cpp.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve one or more GGUF models over HTTP")
    serve.add_argument(
        "--model",
        default="tiny",
        help="GGUF path, or 'tiny' for the generated tiny model (default: tiny)",
    )
    serve.add_argument("--model-id", help="id clients use (default: inferno-tiny or the file stem)")
    serve.add_argument(
        "--config", type=Path, help="YAML/JSON file with a 'models' list (id, path, n_ctx, ...)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=integer(0, 65535),
        default=8000,
        help="port; 0 picks a free one (default: 8000)",
    )
    serve.add_argument(
        "--n-ctx",
        type=integer(0, _flags.KV_CELLS_MAX),
        default=0,
        help="context window of each sequence in tokens, at most the model's trained context "
        "and at least --parallel (default: 0 = the model's own)",
    )
    serve.add_argument(
        "--n-gpu-layers",
        type=integer(-1, _flags.INT32_MAX),
        default=0,
        help="layers offloaded to the GPU; -1 = all (default: 0, CPU only)",
    )
    serve.add_argument(
        "--threads",
        type=integer(1, MAX_THREADS, "ggml's thread limit"),
        default=None,
        help=f"CPU threads per model, 1 to {MAX_THREADS} (default: all cores; 1 for models "
        "under 64 MiB)",
    )
    serve.add_argument(
        "--parallel",
        type=integer(1, MAX_PARALLEL, _flags.PARALLEL_WHY),
        default=4,
        help="sequences per model decoded together in one batch, like llama-server's -np; "
        f"a request with n choices uses up to n of them; 1 to {MAX_PARALLEL} (default: 4)",
    )
    serve.add_argument(
        "--n-batch",
        type=integer(1, _flags.INT32_MAX),
        default=512,
        help="most tokens one decode step carries: the next token of every running sequence "
        "plus prompt chunks, so at least --parallel (default: 512)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        type=_flags.api_key,
        default=[],
        help=f"accepted bearer key, repeatable; also ${API_KEYS_ENV} "
        "(comma-separated). Without keys, no auth.",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=integer(1),
        default=8 * 1024 * 1024,
        help="largest request body; larger gets 413 (default: 8 MiB)",
    )
    serve.add_argument(
        "--max-queue",
        type=integer(0),
        default=16,
        help="requests that may wait for a sequence per model; more are shed with 429 "
        "(default: 16)",
    )
    serve.add_argument(
        "--stream-stall-timeout",
        type=seconds(),
        default=30.0,
        help="abort a stream whose client stops reading this long (default: 30 s)",
    )
    serve.add_argument(
        "--request-timeout",
        type=seconds(),
        default=600.0,
        help="deadline for one request (default: 600 s)",
    )
    serve.add_argument(
        "--max-budget-tokens",
        type=integer(0),
        default=0,
        help="largest n × (prompt + max_tokens) one request may hold; more gets "
        "507 (default: 0 = only the context window limits)",
    )
    serve.add_argument(
        "--stream-batch-ms",
        type=seconds(allow_zero=True, scale=0.001),
        default=0.0,
        help="coalesce tokens produced within N ms into one stream event; the first token is "
        "never delayed (default: 0: no waiting; text that already queued up for a busy reader "
        "goes out as one event)",
    )
    serve.add_argument(
        "--sse-keepalive-s",
        type=seconds(),
        default=15.0,
        help="send an SSE comment this often while a stream waits (default: 15 s)",
    )
    serve.add_argument(
        "--compression-min-bytes",
        type=integer(0),
        default=512,
        help="bodies smaller than this are not compressed (default: 512)",
    )
    serve.add_argument(
        "--stream-buffer",
        type=integer(1),
        default=32,
        help="events one stream may buffer before its sequence sits out of the batch (default: 32)",
    )
    serve.add_argument(
        "--responses-store",
        type=integer(0),
        default=1024,
        help="stored responses kept in memory for retrieval and previous_response_id; the least "
        "recently used is evicted (default: 1024; 0 stores none)",
    )
    serve.add_argument(
        "--prefill-chunk",
        type=integer(0),
        default=0,
        help="prompt tokens one decode step may carry while other sequences decode, so that a "
        "long prompt does not stall their streams (default: 0, about one decode step's worth, "
        "measured as the server runs: their token gaps at most about double; a prompt with "
        "at most 32 tokens left goes whole, and a step with nothing decoding takes --n-batch)",
    )
    serve.add_argument(
        "--batch-invariant",
        action="store_true",
        help="plain attention instead of llama.cpp's flash attention, and one-token decode steps "
        "padded with a throwaway row on models whose one-row steps round differently (probed "
        "at load; the tiny model), so that a request's text does not depend on whether it "
        "decoded alone or beside others; slower, most where idle caches fill the KV cache "
        "(docs/performance.md)",
    )
    serve.add_argument(
        "--no-repack",
        action="store_true",
        help="load weights as stored, without llama.cpp's CPU-specific repacking (a workaround "
        "for CPUs whose repacked kernels crash; slower on most)",
    )
    serve.add_argument(
        "--log-level",
        type=_flags.log_level,
        default="WARNING",
        help="logging level (default: WARNING)",
    )
    tiny = sub.add_parser("tiny-model", help="generate the tiny model (if needed), print its path")
    tiny.add_argument("--cache-dir", type=Path, default=None)
    return parser, serve


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The settings of parsed `serve` flags; FlagError names the flag (or --config entry) whose
    value cannot serve. Model files are not opened, beyond reading a GGUF's header."""
    # argparse takes `--api-key=--` for the end of options and appends an empty list.
    if any(not isinstance(key, str) for key in args.api_key):
        raise FlagError("--api-key", "'--' cannot be a key: it means the end of the options")
    defaults = ModelConfig(
        model_id=args.model_id or _default_model_id(args.model),
        path=args.model,
        n_ctx=args.n_ctx,
        n_gpu_layers=args.n_gpu_layers,
        threads=args.threads,
        parallel=args.parallel,
        n_batch=args.n_batch,
    )
    if args.config:
        models = _flags.load_model_file(args.config, defaults)
    else:
        _flags.check_model(defaults)
        models = (defaults,)
    keys = list(args.api_key) + _flags.env_api_keys(os.environ.get(API_KEYS_ENV, ""))
    return ServerConfig(
        models=models,
        host=args.host,
        port=args.port,
        api_keys=tuple(keys),
        max_body_bytes=args.max_body_bytes,
        max_queue=args.max_queue,
        stream_stall_timeout=args.stream_stall_timeout,
        request_timeout=args.request_timeout,
        max_budget_tokens=args.max_budget_tokens,
        stream_batch_ms=args.stream_batch_ms,
        sse_keepalive_s=args.sse_keepalive_s,
        compression_min_bytes=args.compression_min_bytes,
        stream_buffer=args.stream_buffer,
        responses_store=args.responses_store,
        prefill_chunk=args.prefill_chunk,
        batch_invariant=args.batch_invariant,
        no_repack=args.no_repack,
    )


def config_from_argv(argv: list[str]) -> ServerConfig:
    """What `serve ARGV` would run, checked as `main` checks it: bad settings exit 2 with
    argparse's usage and an error naming the flag; no model loads."""
    parser, serve_parser = _build_parsers()
    return _checked_config(serve_parser, parser.parse_args(["serve", *argv]))


def _checked_config(
    serve_parser: argparse.ArgumentParser, args: argparse.Namespace
) -> ServerConfig:
    try:
        config = config_from_args(args)
        _flags.check_paths(config.models, args.config)
    except FlagError as exc:
        serve_parser.error(str(exc))  # exits 2
    return config


def _default_model_id(path: str) -> str:
    if path == "tiny":
        from .tiny_model import TINY_MODEL_ID

        return TINY_MODEL_ID
    return Path(path).stem


def main(argv: list[str] | None = None, *, engine_factory: EngineFactory | None = None) -> int:
    """The command line. `engine_factory` replaces the llama.cpp engine (tests only).

    Settings that cannot serve exit 2 (argparse's SystemExit) before any model loads; a model
    that fails to load makes a single-model server return 1."""
    parser, serve_parser = _build_parsers()
    args = parser.parse_args(argv)
    if args.command == "tiny-model":
        try:
            from .tiny_model import ensure_tiny_model
        except ModuleNotFoundError as exc:
            print(f"error: {SERVER_EXTRA_HINT} ({exc})", file=sys.stderr)
            return 2

        print(ensure_tiny_model(args.cache_dir))
        return 0
    config = _checked_config(serve_parser, args)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    return serve(config, engine_factory=engine_factory)


SERVER_EXTRA_HINT = (
    "the reference server needs the 'server' extra: pip install 'inferno-harness[server]'"
)


def serve(config: ServerConfig, *, engine_factory: EngineFactory | None = None) -> int:
    try:
        from .app import create_app
        from .registry import resolve_model_path
    except ModuleNotFoundError as exc:
        print(f"error: {SERVER_EXTRA_HINT} ({exc})", file=sys.stderr)
        return 2

    try:
        for model in config.models:
            resolve_model_path(model.path)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(config, engine_factory=engine_factory)
    try:
        sock = _listen(config.host, config.port)
    except (OSError, ValueError) as exc:  # ValueError: a host name that cannot be encoded
        print(
            f"error: argument --host/--port: cannot listen on {config.host}:{config.port}: {exc}",
            file=sys.stderr,
        )
        return 2
    # With --port 0 the kernel picks the port; this line is how a launcher learns it.
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"Inferno reference server on http://{shown}:{port}/v1", flush=True)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
    # 1 when the only model failed to load (app.py stops the server then).
    return app.ctx.exit_code


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)
