"""Checks on `serve`'s flags and `--config` files: every combination either serves or is refused,
naming the flag, before a model loads.

The bounds come from what llama.cpp and the engine can hold: past them, llama.cpp aborts the
process (a failed GGML_ASSERT), or a model loads that can never serve.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from ._gguf_header import context_length
from .config import ModelConfig

LLAMA_MAX_SEQ = 256  # llama.cpp's LLAMA_MAX_SEQ: sequences one context holds
# The engine keeps one sequence id for the padding row of one-token steps (engine/_llama.py).
MAX_PARALLEL = LLAMA_MAX_SEQ - 1
MAX_THREADS = 512  # ggml's GGML_MAX_N_THREADS
PARALLEL_WHY = f"llama.cpp holds {LLAMA_MAX_SEQ} sequences and the engine keeps one for padding"
INT32_MAX = 2**31 - 1  # llama.cpp's parameters are C ints: larger values would wrap
KV_CELLS_MAX = 2**32 - 1  # the context's size (parallel × n_ctx + 1 cells) is a uint32
# A day: longer waits mean nothing for one request, and keep timer arithmetic far from overflow.
MAX_SECONDS = 86_400.0

API_KEYS_ENV = "INFERNO_API_KEYS"
CONFIG_KEYS = ("id", "path", "n_ctx", "n_gpu_layers", "threads", "parallel", "n_batch", "owned_by")
# The flag each per-model setting comes from when a --config entry leaves it out.
MODEL_FLAGS = {
    "n_ctx": "--n-ctx",
    "n_gpu_layers": "--n-gpu-layers",
    "threads": "--threads",
    "parallel": "--parallel",
    "n_batch": "--n-batch",
}
MODEL_RANGES = {
    "n_ctx": (0, KV_CELLS_MAX),
    "n_gpu_layers": (-1, INT32_MAX),
    "threads": (1, MAX_THREADS),
    "parallel": (1, MAX_PARALLEL),
    "n_batch": (1, INT32_MAX),
}


class FlagError(ValueError):
    """Settings that cannot serve; the message starts by naming the flag to change."""

    def __init__(self, flag: str, message: str) -> None:
        named = flag if flag.startswith("environment") else f"argument {flag}"
        super().__init__(f"{named}: {message}")
        self.flag = flag


# -- argparse types: one flag's value on its own -------------------------------------------------


def integer(low: int, high: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high` (inclusive); `why` explains a bound."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        problem = _out_of_range(value, low, high)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem} ({why})" if why else problem)
        return value

    parse.__name__ = "integer"  # argparse names the type in its fallback message
    return parse


def seconds(*, allow_zero: bool = False, scale: float = 1.0) -> Callable[[str], float]:
    """An argparse type: a finite duration, positive (or zero if allowed), at most a day.
    `scale` is the unit in seconds (0.001 for milliseconds)."""
    high = MAX_SECONDS / scale

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < 0 or (value == 0 and not allow_zero):
            floor = "0 or more" if allow_zero else "more than 0"
            raise argparse.ArgumentTypeError(f"must be {floor}, got {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def api_key(text: str) -> str:
    """An argparse type: a key a client can send in `Authorization: Bearer <key>`."""
    problem = _key_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def log_level(text: str) -> str:
    """An argparse type: a Python logging level name, in any case."""
    name = text.upper()
    if name not in logging.getLevelNamesMapping():
        known = "DEBUG, INFO, WARNING, ERROR, CRITICAL"
        raise argparse.ArgumentTypeError(f"unknown level {text!r} (one of {known})")
    return name


def env_api_keys(raw: str) -> list[str]:
    """The keys in INFERNO_API_KEYS (comma-separated; blank entries are skipped)."""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    for index, key in enumerate(keys, 1):
        problem = _key_problem(key)
        if problem:
            raise FlagError(f"environment variable {API_KEYS_ENV}", f"key {index}: {problem}")
    return keys


def _key_problem(key: str) -> str | None:
    if not key:
        # An empty key would let `Authorization: Bearer ` (no token at all) in.
        return "must not be empty"
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        # A header carries visible ASCII; the server strips the token, so spaces never match.
        return "may only hold visible ASCII characters (no spaces)"
    return None


def _out_of_range(value: int, low: int, high: int | None) -> str | None:
    if value < low:
        return f"must be at least {low}, got {value}"
    if high is not None and value > high:
        return f"must be at most {high}, got {value}"
    return None


# -- --config files ------------------------------------------------------------------------------


def load_model_file(path: Path, defaults: ModelConfig) -> tuple[ModelConfig, ...]:
    """Reads `--config FILE` (YAML or JSON): {"models": [{"id", "path", "n_ctx", ...}, ...]}.
    Settings an entry leaves out come from `defaults` (the flags)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlagError("--config", f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FlagError("--config", f"{path} is not UTF-8 text") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FlagError("--config", f"{path} is not valid {kind}: {first}") from None
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise FlagError("--config", f"{path}: expected a non-empty 'models' list")
    extra = sorted(str(k) for k in data if k != "models")
    if extra:
        raise FlagError("--config", f"{path}: unknown top-level key(s) {extra}; only 'models'")
    models = tuple(
        _entry(entry, f"{path}: models[{i}]", defaults) for i, entry in enumerate(entries)
    )
    seen: set[str] = set()
    for i, model in enumerate(models):
        if model.model_id in seen:
            raise FlagError(
                "--config",
                f"{path}: models[{i}]: id {model.model_id!r} is used twice; ids must be unique",
            )
        seen.add(model.model_id)
    return models


def _entry(entry: object, where: str, defaults: ModelConfig) -> ModelConfig:
    if not isinstance(entry, dict):
        raise FlagError("--config", f"{where}: expected a mapping, got {_kind(entry)}")
    unknown = sorted(str(k) for k in entry if k not in CONFIG_KEYS)
    if unknown:
        raise FlagError(
            "--config", f"{where}: unknown key(s) {unknown}; known: {list(CONFIG_KEYS)}"
        )
    if "path" not in entry:
        raise FlagError("--config", f"{where}: needs a 'path'")
    for key in ("id", "path", "owned_by"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise FlagError("--config", f"{where}.{key}: expected a non-empty string")
    for key in MODEL_FLAGS:
        if key not in entry or (key == "threads" and entry[key] is None):
            continue
        value = entry[key]
        # YAML reads `yes` as True, and True is an int to Python: neither is a count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise FlagError("--config", f"{where}.{key}: expected an integer, got {_kind(value)}")
        problem = _out_of_range(value, *MODEL_RANGES[key])
        if problem:
            raise FlagError("--config", f"{where}.{key}: {problem}")
    path = entry["path"]
    model = ModelConfig(
        model_id=entry.get("id") or Path(path).stem,
        path=path,
        n_ctx=entry.get("n_ctx", defaults.n_ctx),
        n_gpu_layers=entry.get("n_gpu_layers", defaults.n_gpu_layers),
        threads=entry.get("threads", defaults.threads),
        owned_by=entry.get("owned_by", defaults.owned_by),
        parallel=entry.get("parallel", defaults.parallel),
        n_batch=entry.get("n_batch", defaults.n_batch),
    )
    check_model(model, {k: f"{where}.{k}" for k in MODEL_FLAGS if k in entry})
    return model


def _kind(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"


# -- one model's settings together ---------------------------------------------------------------


def check_model(model: ModelConfig, names: Mapping[str, str] | None = None) -> None:
    """The rules between one model's settings. `names` says where a setting was written (a
    --config entry's key); the others came from their flags."""
    names = names or {}

    def blame(key: str, message: str) -> FlagError:
        if key in names:
            return FlagError("--config", f"{names[key]}: {message}")
        suffix = f" (model {model.model_id!r} of --config)" if names else ""
        return FlagError(MODEL_FLAGS[key], message + suffix)

    def shown(key: str) -> str:
        return names.get(key, MODEL_FLAGS[key])

    # Each decode step carries the next token of every running sequence, and llama.cpp refuses
    # a step larger than its batch: fewer than --parallel tokens could never hold them all.
    if model.n_batch < model.parallel:
        raise blame(
            "n_batch",
            f"{model.n_batch} is less than {shown('parallel')} ({model.parallel}): a decode step "
            "carries one token of every running sequence, so it must be at least that",
        )
    # The engine also caps a step at the context window.
    if 0 < model.n_ctx < model.parallel:
        raise blame(
            "n_ctx",
            f"{model.n_ctx} is less than {shown('parallel')} ({model.parallel}); "
            "0 uses the model's own",
        )
    if model.n_ctx * model.parallel + 1 > KV_CELLS_MAX:
        raise blame(
            "n_ctx",
            f"{model.n_ctx} × {shown('parallel')} ({model.parallel}) cells exceed what llama.cpp "
            f"can address ({KV_CELLS_MAX})",
        )
    trained = trained_context(model.path)
    if trained is None:
        return  # not readable here: the loader says why, if it cannot load it either
    if model.n_ctx > trained:
        # Nothing here scales RoPE past the trained length: those positions give garbage.
        raise blame(
            "n_ctx",
            f"{model.n_ctx} is more than the model's trained context ({trained} tokens); "
            "0 uses the model's own",
        )
    if model.n_ctx == 0 and trained < model.parallel:
        raise blame(
            "parallel",
            f"{model.parallel} is more than the model's context ({trained} tokens)",
        )


def trained_context(path: str) -> int | None:
    """The context length a GGUF was trained for, read from its header; None when unknown."""
    if path == "tiny":
        try:
            from .tiny_model import N_CTX
        except ImportError:  # the server extra is missing: serve() says so
            return None
        return N_CTX
    # An unreadable header gives None: the loader then reports the file's problem itself.
    return context_length(path)


def check_paths(models: tuple[ModelConfig, ...], config: Path | None) -> None:
    """Every model file exists (the tiny model is generated when the server starts)."""
    for i, model in enumerate(models):
        if model.path == "tiny" or Path(model.path).is_file():
            continue
        if config is None:
            raise FlagError("--model", f"model file not found: {model.path}")
        raise FlagError(
            "--config", f"{config}: models[{i}].path: model file not found: {model.path}"
        )
