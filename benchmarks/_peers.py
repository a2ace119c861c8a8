"""The servers compared: how to install each, and the command line that starts it.

Every peer gets the same GGUF, context size, thread count and model id, on a loopback port;
the three that decode sequences in batches also get the same number of sequences and batch
size, with a unified KV cache of sequences × context cells (llama-cpp-python's own server
runs one request at a time and has no such setting). Each is started once per role: "gen"
(chat/completions) and "embed" (embeddings), because the other servers serve embeddings only
when started with an embedding context, which would otherwise also weigh on their generation;
"all" (the compliance runs) is one process that serves everything it can.

A proxy peer (LiteLLM's, `_litellm.py`) is not a server of its own: it fronts another peer,
which is started first on a port of its own (`_server.serve`). It takes part in the compliance
runs only (COMPAT_PEER_NAMES): its speed would be the upstream's plus a hop.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _build

PEER_NAMES = ("ours", "llama-cpp-python", "llama-server", "llama-cpp-python-batched")
PROXY_NAMES = ("litellm",)
COMPAT_PEER_NAMES = (*PEER_NAMES, *PROXY_NAMES)
INSTALL_TIMEOUT_S = 900
# What `llama-cpp-python[server]` adds; any one missing and its server does not start.
SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
# What the sdist's batched example server imports (its inline script metadata), by module
# and by the distribution that provides it.
BATCHED_MODULES = {
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "jinja2": "jinja2",
    "numpy": "numpy",
    "openai": "openai",
    "pydantic": "pydantic",
    "safetensors": "safetensors",
    "websockets": "websockets",
}
DEFAULT_PARALLEL = 8
DEFAULT_N_BATCH = 512


class PeerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Launch:
    model_path: Path
    model_id: str
    n_ctx: int
    threads: int
    port: int
    no_repack: bool = False  # see benchmarks/_norepack.py
    parallel: int = DEFAULT_PARALLEL  # sequences decoded together (batching peers)
    n_batch: int = DEFAULT_N_BATCH  # most tokens per decode step (batching peers)
    upstream: str = ""  # a proxy's upstream, `http://127.0.0.1:PORT/v1`


def _python(module: str, launch: Launch) -> list[str]:
    """`python -m MODULE` (or `python SCRIPT.py`), through the no-repack launcher if asked."""
    if launch.no_repack:
        return [sys.executable, "-m", "benchmarks._norepack", module]
    if module.endswith(".py"):
        return [sys.executable, module]
    return [sys.executable, "-m", module]


@dataclass
class Peer:
    name: str
    versions: dict[str, str]
    command: Callable[[Launch, str], list[str]]
    notes: list[str] = field(default_factory=list)  # shown with its results in the docs
    # A proxy: the peer it fronts, and the request that tells the proxy itself is up (the
    # measured request is the upstream's probe, already answered by then).
    upstream: Peer | None = None
    ready: tuple[str, str, dict | None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def portable(command: list[str]) -> list[str]:
    """A command line fit for a results file: no interpreter path, home folder as ``~``."""
    home = str(Path.home())
    shown = ["python" if arg == sys.executable else arg for arg in command]
    return ["~" + arg[len(home) :] if arg.startswith(home + "/") else arg for arg in shown]


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def prepare(name: str, log: Callable[[str], None] = print) -> Peer:
    """Install or build what the peer needs; raise PeerUnavailable with the reason if we can't.

    `ours:FLAGS` is the reference server with more `serve` flags (`ours:--batch-invariant`),
    measured beside the others as a peer of its own."""
    if name == "ours":
        return _ours()
    if name.startswith("ours:"):
        flags = shlex.split(name.removeprefix("ours:"))
        return _ours(flags)
    if name == "llama-cpp-python":
        return _llama_cpp_python(log)
    if name == "llama-server":
        return _llama_server(log)
    if name == "llama-cpp-python-batched":
        return _batched_example(log)
    if name == "litellm":
        from . import _litellm  # builds on this module's peers

        return _litellm.prepare(_ours(), log)
    raise PeerUnavailable(f"unknown peer {name!r}; known: {', '.join(COMPAT_PEER_NAMES)}")


def _ours(flags: Sequence[str] = ()) -> Peer:
    def command(launch: Launch, role: str) -> list[str]:
        # One process serves both roles; it is still restarted per role, like the others.
        return [
            *_python("reference_server", launch),
            "serve",
            "--model",
            str(launch.model_path),
            "--model-id",
            launch.model_id,
            "--host",
            "127.0.0.1",
            "--port",
            str(launch.port),
            "--n-ctx",
            str(launch.n_ctx),
            "--threads",
            str(launch.threads),
            "--parallel",
            str(launch.parallel),
            "--n-batch",
            str(launch.n_batch),
            *flags,
        ]

    versions = {
        "inferno-harness": version_of("inferno-harness"),
        "sanic": version_of("sanic"),
        "llama-cpp-python": version_of("llama-cpp-python"),
    }
    return Peer(shlex.join(["ours", *flags]), versions, command)


def _llama_cpp_python(log: Callable[[str], None]) -> Peer:
    binding = version_of("llama-cpp-python")
    if binding == "not installed":
        raise PeerUnavailable("llama-cpp-python is not installed in this environment")
    if not all(importlib.util.find_spec(m) for m in SERVER_MODULES):
        # Pinning the installed version keeps pip from compiling llama.cpp again.
        spec = f"llama-cpp-python[server]=={binding}"
        log(f"installing {spec} into {sys.prefix}")
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", spec],
                check=True,
                timeout=INSTALL_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"`pip install {spec}` failed: {exc}") from exc

    def command(launch: Launch, role: str) -> list[str]:
        return [
            *_python("llama_cpp.server", launch),
            "--model",
            str(launch.model_path),
            "--model_alias",
            launch.model_id,
            "--host",
            "127.0.0.1",
            "--port",
            str(launch.port),
            "--n_ctx",
            str(launch.n_ctx),
            "--n_threads",
            str(launch.threads),
            "--n_threads_batch",
            str(launch.threads),
            "--embedding",
            "true" if role in ("embed", "all") else "false",
            # By default a new request aborts the running stream (its client sees a cut
            # body); queueing instead is the only way its concurrent figures mean anything.
            "--interrupt_requests",
            "false",
            "--verbose",
            "false",
        ]

    versions = {
        "llama-cpp-python": binding,
        "fastapi": version_of("fastapi"),
        "uvicorn": version_of("uvicorn"),
    }
    return Peer("llama-cpp-python", versions, command)


def _llama_server(log: Callable[[str], None]) -> Peer:
    binding = version_of("llama-cpp-python")
    if binding == "not installed":
        raise PeerUnavailable("llama-cpp-python is not installed: its sdist is the source")
    try:
        binary = _build.ensure_llama_server(binding, log=log)
    except _build.BuildError as exc:
        raise PeerUnavailable(f"llama-server could not be built: {exc}") from exc
    try:
        banner = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30
        )
        build_line = next(
            (ln for ln in (banner.stdout + banner.stderr).splitlines() if "version" in ln), ""
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{binary} does not run: {exc}") from exc

    def command(launch: Launch, role: str) -> list[str]:
        args = [
            str(binary),
            "--model",
            str(launch.model_path),
            "--alias",
            launch.model_id,
            "--host",
            "127.0.0.1",
            "--port",
            str(launch.port),
            # With a unified cache the context is shared: room for every sequence.
            "--ctx-size",
            str(launch.n_ctx * launch.parallel),
            "--parallel",
            str(launch.parallel),
            "--kv-unified",
            "--batch-size",
            str(launch.n_batch),
            "--ubatch-size",
            str(launch.n_batch),
            "--threads",
            str(launch.threads),
            "--threads-batch",
            str(launch.threads),
            "--no-webui",
        ]
        if role in ("embed", "all"):
            # The embedding context would weigh on generation: only where embeddings are used.
            args.append("--embedding")
        if launch.no_repack:
            args.append("--no-repack")
        return args

    versions = {
        "llama.cpp (vendored by llama-cpp-python)": binding,
        "llama-server": build_line.strip() or "unknown",
    }
    return Peer("llama-server", versions, command)


def batched_config(launch: Launch, role: str) -> dict[str, Any]:
    """The batched example server's JSON config for one launch."""
    embedding = role == "embed"
    model: dict[str, Any] = {
        "alias": launch.model_id,
        "path": str(launch.model_path),
        # A unified cache: the context is shared, so room for every sequence.
        "n_ctx": launch.n_ctx * launch.parallel,
        "n_seq_max": launch.parallel,
        "n_batch": launch.n_batch,
        "n_ubatch": launch.n_batch,
        "threads": launch.threads,
        "threads_batch": launch.threads,
        "kv_unified": True,
        # Otherwise a GGUF with a pooling type is served for embeddings only.
        "embedding": embedding,
    }
    if embedding:
        model["pooling_type"] = 1  # mean, as the other peers use
    return {"server": {"host": "127.0.0.1", "port": launch.port}, "model": model}


def _batched_example(log: Callable[[str], None]) -> Peer:
    """llama-cpp-python's batched example server: FastAPI + uvicorn over the low-level API,
    from the sdist of the installed version, configured by a JSON file per launch."""
    binding = version_of("llama-cpp-python")
    if binding == "not installed":
        raise PeerUnavailable("llama-cpp-python is not installed: its sdist is the source")
    try:
        script = _build.example_server(binding, log=log)
    except _build.BuildError as exc:
        raise PeerUnavailable(f"the batched example server is unavailable: {exc}") from exc
    missing = [dist for mod, dist in BATCHED_MODULES.items() if not importlib.util.find_spec(mod)]
    if missing:
        log(f"installing {' '.join(missing)} for the batched example server into {sys.prefix}")
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", *missing],
                check=True,
                timeout=INSTALL_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"`pip install {' '.join(missing)}` failed: {exc}") from exc

    def command(launch: Launch, role: str) -> list[str]:
        path = _build.cache_dir() / f"batched-{launch.port}-{role}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(batched_config(launch, role), indent=1), encoding="utf-8")
        return [*_python(str(script), launch), "-C", str(path)]

    versions = {
        "llama-cpp-python": binding,
        "fastapi": version_of("fastapi"),
        "uvicorn": version_of("uvicorn"),
    }
    return Peer("llama-cpp-python-batched", versions, command)
