"""Peers from the llama-cpp-python sdist: build llama.cpp's `llama-server` once, and take the
batched example server (`examples/server/server.py`) out of it.

The sdist vendors the exact llama.cpp revision that the installed Python binding was built
from, so every peer runs the same inference code. Everything lives in a cache folder outside
the repository (``$XDG_CACHE_HOME/inferno/peers``, else ``~/.cache/inferno/peers``); a second
run finds the binary and the script there and builds nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 900
CONFIGURE_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 60 * 60
# No network at build time (no curl, no OpenSSL, no web UI download), nothing but the server.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
)


class BuildError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "inferno" / "peers"


def binary_path(version: str) -> Path:
    return cache_dir() / f"build-{version}" / "bin" / "llama-server"


def ensure_llama_server(version: str, jobs: int = 2, log=print) -> Path:
    """Return the cached binary, building it first if needed (about 10-15 min on 2 cores)."""
    binary = binary_path(version)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise BuildError(f"`{tool}` not found: install cmake and a C++ compiler to build it")
    source = _source_tree(version, log)
    build = binary.parent.parent
    log_file = cache_dir() / f"build-{version}.log"
    log(f"building llama-server {version} with -j{jobs} (log: {log_file}); this takes a while")
    started = time.monotonic()
    with log_file.open("a") as out:
        _run(
            ["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS],
            out,
            CONFIGURE_TIMEOUT_S,
        )
        _run(
            ["cmake", "--build", str(build), "--target", "llama-server", f"-j{jobs}"],
            out,
            BUILD_TIMEOUT_S,
        )
    if not binary.is_file():
        raise BuildError(f"build finished but {binary} is missing; see {log_file}")
    log(f"llama-server built in {time.monotonic() - started:.0f} s")
    return binary


def example_server(version: str, log=print) -> Path:
    """The sdist's batched example server script (continuous batching on the low-level API)."""
    root = cache_dir()
    script = root / f"llama_cpp_python-{version}" / "examples" / "server" / "server.py"
    if not script.is_file():
        _extract(version, "examples/server/", log)
    if not script.is_file():
        raise BuildError(f"the llama-cpp-python {version} sdist has no examples/server/server.py")
    return script


def _source_tree(version: str, log) -> Path:
    source = cache_dir() / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if not (source / "CMakeLists.txt").is_file():
        _extract(version, "vendor/llama.cpp/", log)
    return source


def _extract(version: str, folder: str, log) -> None:
    """Unpacks one folder of the sdist (downloaded first if needed) into the cache."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    top = f"llama_cpp_python-{version}"
    sdist = root / f"{top}.tar.gz"
    if not sdist.is_file():
        log(f"downloading the llama-cpp-python {version} sdist (llama.cpp sources)")
        with (root / "download.log").open("a") as out:
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    f"llama-cpp-python=={version}",
                    "-d",
                    str(root),
                ],
                out,
                DOWNLOAD_TIMEOUT_S,
            )
    if not sdist.is_file():
        raise BuildError(f"pip download did not produce {sdist.name}")
    prefix = f"{top}/{folder}"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise BuildError(f"{sdist.name} carries no {folder}")
        # The "data" filter refuses absolute paths, links out of the tree and device files.
        archive.extractall(root, members=members, filter="data")


def _run(command: list[str], out, timeout_s: float) -> None:
    out.write(f"$ {' '.join(command)}\n")
    out.flush()
    try:
        result = subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{command[0]} {command[1]} timed out after {timeout_s:g} s") from exc
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(command[:4])} ...` failed with {result.returncode}")
