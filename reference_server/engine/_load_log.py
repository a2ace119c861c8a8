"""llama.cpp's error lines while a model loads, so that a load failure can say why.

llama.cpp reports why it could not load a file (bad magic, unknown architecture, truncated
tensors, no memory for the cache) only through its log callback, and returns NULL. The callback
is process-wide, and several models load at once on their own threads: lines are kept for the
thread that is capturing, and everything else goes to llama-cpp-python's own callback as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from typing import Any

# ggml.h's levels (llama-cpp-python's own table is older: it takes 4, ERROR, for DEBUG, so its
# callback never prints the lines that say why a load failed).
GGML_LOG_LEVEL_ERROR = 4
GGML_LOG_LEVEL_CONT = 5  # continues the previous line
# Said after every other reason: it adds nothing to them.
_GENERIC = ("failed to load model",)

_captures: dict[int, list[str]] = {}
_install_lock = threading.Lock()
_callback: Any = None  # the installed ctypes callback; it must outlive every call into it


def _install(llama_cpp: Any) -> None:
    global _callback
    with _install_lock:
        if _callback is not None:
            return
        from llama_cpp import _logger

        forward = _logger.llama_log_callback
        last_level = [0]

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: Any) -> None:
            lines = _captures.get(threading.get_ident())
            if lines is None:
                forward(level, text, user_data)
                return
            if level == GGML_LOG_LEVEL_CONT:
                level = last_level[0]
                if level == GGML_LOG_LEVEL_ERROR and lines:
                    lines[-1] += text.decode("utf-8", "replace").rstrip()
                    return
            last_level[0] = level
            if level == GGML_LOG_LEVEL_ERROR:
                lines.append(text.decode("utf-8", "replace").strip())

        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        _callback = callback


@contextlib.contextmanager
def capture_errors(llama_cpp: Any) -> Iterator[list[str]]:
    """The error lines llama.cpp logs on this thread inside the block (not printed)."""
    _install(llama_cpp)
    key = threading.get_ident()
    lines: list[str] = []
    _captures[key] = lines
    try:
        yield lines
    finally:
        del _captures[key]


def reason(lines: list[str]) -> str:
    """The captured lines as one sentence, the generic last words left out."""
    useful = [line for line in lines if line and not line.endswith(_GENERIC)]
    return "; ".join(useful or lines) or "no reason given"
