"""`python -m reference_server`: serve GGUF models with an OpenAI-compatible API."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ModelConfig, ServerConfig, load_model_file

if TYPE_CHECKING:
    from .registry import EngineFactory

API_KEYS_ENV = "INFERNO_API_KEYS"


def build_parser() -> argparse.ArgumentParser:
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
        "--port", type=int, default=8000, help="port; 0 picks a free one (default: 8000)"
    )
    serve.add_argument(
        "--n-ctx",
        type=int,
        default=0,
        help="context window of each sequence in tokens (default: 0 = the model's own)",
    )
    serve.add_argument(
        "--n-gpu-layers",
        type=int,
        default=0,
        help="layers offloaded to the GPU; -1 = all (default: 0, CPU only)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per model (default: all cores; 1 for models under 64 MiB)",
    )
    serve.add_argument(
        "--parallel",
        type=_positive,
        default=4,
        help="sequences per model decoded together in one batch, like llama-server's -np; "
        "a request with n choices uses up to n of them (default: 4)",
    )
    serve.add_argument(
        "--n-batch",
        type=_positive,
        default=512,
        help="most tokens one decode step carries: the next token of every running sequence "
        "plus prompt chunks (default: 512)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"accepted bearer key, repeatable; also ${API_KEYS_ENV} "
        "(comma-separated). Without keys, no auth.",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=8 * 1024 * 1024,
        help="largest request body; larger gets 413 (default: 8 MiB)",
    )
    serve.add_argument(
        "--max-queue",
        type=int,
        default=16,
        help="requests that may wait for a sequence per model; more are shed with 429 "
        "(default: 16)",
    )
    serve.add_argument(
        "--stream-stall-timeout",
        type=float,
        default=30.0,
        help="abort a stream whose client stops reading this long (default: 30 s)",
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=600.0,
        help="deadline for one request (default: 600 s)",
    )
    serve.add_argument(
        "--max-budget-tokens",
        type=int,
        default=0,
        help="largest n × (prompt + max_tokens) one request may hold; more gets "
        "507 (default: 0 = only the context window limits)",
    )
    serve.add_argument(
        "--stream-batch-ms",
        type=float,
        default=0.0,
        help="coalesce tokens produced within N ms into one stream event; the first token is "
        "never delayed (default: 0: no waiting; text that already queued up for a busy reader "
        "goes out as one event)",
    )
    serve.add_argument(
        "--sse-keepalive-s",
        type=float,
        default=15.0,
        help="send an SSE comment this often while a stream waits (default: 15 s)",
    )
    serve.add_argument(
        "--compression-min-bytes",
        type=int,
        default=512,
        help="bodies smaller than this are not compressed (default: 512)",
    )
    serve.add_argument(
        "--stream-buffer",
        type=int,
        default=32,
        help="events one stream may buffer before its sequence sits out of the batch (default: 32)",
    )
    serve.add_argument(
        "--responses-store",
        type=int,
        default=1024,
        help="stored responses kept in memory for retrieval and previous_response_id; the least "
        "recently used is evicted (default: 1024; 0 stores none)",
    )
    serve.add_argument(
        "--no-repack",
        action="store_true",
        help="load weights as stored, without llama.cpp's CPU-specific repacking (a workaround "
        "for CPUs whose repacked kernels crash; slower on most)",
    )
    serve.add_argument("--log-level", default="WARNING", help="logging level (default: WARNING)")
    tiny = sub.add_parser("tiny-model", help="generate the tiny model (if needed), print its path")
    tiny.add_argument("--cache-dir", type=Path, default=None)
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    defaults = ModelConfig(
        model_id=args.model_id or _default_model_id(args.model),
        path=args.model,
        n_ctx=args.n_ctx,
        n_gpu_layers=args.n_gpu_layers,
        threads=args.threads,
        parallel=args.parallel,
        n_batch=args.n_batch,
    )
    models = load_model_file(args.config, defaults) if args.config else (defaults,)
    keys = list(args.api_key)
    keys += [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
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
        no_repack=args.no_repack,
    )


def _default_model_id(path: str) -> str:
    if path == "tiny":
        from .tiny_model import TINY_MODEL_ID

        return TINY_MODEL_ID
    return Path(path).stem


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None, *, engine_factory: EngineFactory | None = None) -> int:
    """The command line. `engine_factory` replaces the llama.cpp engine (tests only)."""
    args = build_parser().parse_args(argv)
    if args.command == "tiny-model":
        try:
            from .tiny_model import ensure_tiny_model
        except ModuleNotFoundError as exc:
            print(f"error: {SERVER_EXTRA_HINT} ({exc})", file=sys.stderr)
            return 2

        print(ensure_tiny_model(args.cache_dir))
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    except OSError as exc:
        print(f"error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2
    # With --port 0 the kernel picks the port; this line is how a launcher learns it.
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"Inferno reference server on http://{shown}:{port}/v1", flush=True)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)
