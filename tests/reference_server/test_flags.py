"""`serve`'s flags and --config files are checked before any model loads: every combination is
either accepted with settings the engine can hold, or refused with exit 2 naming the flag."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_server import _flags
from reference_server._gguf_header import context_length, header_value
from reference_server.cli import API_KEYS_ENV, config_from_argv
from reference_server.config import ServerConfig
from reference_server.tiny_model import N_CTX as TINY_CTX
from reference_server.tiny_model import ensure_tiny_model

LLAMA_MAX_SEQ = 256  # llama.cpp: sequences one context holds (the engine adds a padding one)
GGML_MAX_THREADS = 512


def run_flags(argv: list[str], env_keys: str | None = None) -> tuple[ServerConfig | None, str]:
    """(settings, "") when `serve ARGV` is accepted; (None, stderr) when it exits 2."""
    err = io.StringIO()
    env = {} if env_keys is None else {API_KEYS_ENV: env_keys}
    with mock.patch.dict(os.environ, env), contextlib.redirect_stderr(err):
        if env_keys is None:
            os.environ.pop(API_KEYS_ENV, None)
        try:
            return config_from_argv(argv), ""
        except SystemExit as exited:
            assert exited.code == 2, f"exit {exited.code}: {err.getvalue()}"
    text = err.getvalue()
    assert text.startswith("usage: python -m reference_server serve"), text
    return None, text


def refused_flag(text: str) -> str:
    """The flag an exit-2 message blames ("error: argument --n-batch: ...")."""
    line = text.strip().splitlines()[-1]
    assert line.startswith("python -m reference_server serve: error: "), line
    what = line.removeprefix("python -m reference_server serve: error: ")
    if what.startswith("environment variable "):
        return what.split()[2].rstrip(":")
    assert what.startswith("argument "), line
    return what.removeprefix("argument ").split(":")[0]


# -- the rules, written out independently of the validator --------------------------------------

INT_RULES: dict[str, tuple[int, int | None]] = {
    "--port": (0, 65535),
    "--parallel": (1, LLAMA_MAX_SEQ - 1),
    "--n-batch": (1, 2**31 - 1),
    "--n-ctx": (0, 2**32 - 1),
    "--threads": (1, GGML_MAX_THREADS),
    "--n-gpu-layers": (-1, 2**31 - 1),
    "--max-queue": (0, None),
    "--stream-buffer": (1, None),
    "--max-body-bytes": (1, None),
    "--responses-store": (0, None),
    "--max-budget-tokens": (0, None),
    "--compression-min-bytes": (0, None),
    "--prefill-chunk": (0, None),
}
# flag: (zero allowed, most seconds)
TIME_RULES: dict[str, tuple[bool, float]] = {
    "--request-timeout": (False, 86_400.0),
    "--stream-stall-timeout": (False, 86_400.0),
    "--sse-keepalive-s": (False, 86_400.0),
    "--stream-batch-ms": (True, 86_400_000.0),
}


def expected_refusal(flags: dict[str, Any], keys: list[str], env_keys: str) -> set[str]:
    """The flags the validator may blame, or an empty set when the combination must serve."""
    bad = set()
    for flag, value in flags.items():
        if flag in INT_RULES:
            low, high = INT_RULES[flag]
            if value < low or (high is not None and value > high):
                bad.add(flag)
        elif flag in TIME_RULES:
            zero_ok, high = TIME_RULES[flag]
            if (
                not math.isfinite(value)
                or value < 0
                or value > high
                or (value == 0 and not zero_ok)
            ):
                bad.add(flag)
        elif flag == "--log-level" and value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            bad.add(flag)
    if any(not k or k == "--" or not k.isascii() or not k.isprintable() or " " in k for k in keys):
        bad.add("--api-key")
    if bad:
        return bad  # argparse stops at the first bad value, in command-line order
    parallel = flags.get("--parallel", 4)
    n_batch = flags.get("--n-batch", 512)
    n_ctx = flags.get("--n-ctx", 0)
    if n_batch < parallel:
        return {"--n-batch"}
    if 0 < n_ctx < parallel or n_ctx > TINY_CTX:
        return {"--n-ctx"}
    env = [k.strip() for k in env_keys.split(",") if k.strip()]
    if any(not k.isascii() or not k.isprintable() or " " in k for k in env):
        return {API_KEYS_ENV}
    return set()


def ints(low: int, high: int) -> st.SearchStrategy[int]:
    """Mostly near the bounds that matter, sometimes anywhere."""
    return st.one_of(st.integers(low, high), st.integers(-(2**40), 2**40))


FLAG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "--parallel": ints(-2, 300),
    "--n-batch": ints(-2, 600),
    "--n-ctx": st.one_of(st.just(0), ints(-3, 1100)),
    "--threads": ints(-1, 600),
    "--n-gpu-layers": ints(-3, 100),
    "--port": ints(-1, 70000),
    "--max-queue": ints(-2, 64),
    "--stream-buffer": ints(-1, 64),
    "--max-body-bytes": ints(-1, 1 << 24),
    "--responses-store": ints(-1, 4096),
    "--max-budget-tokens": ints(-1, 10_000),
    "--compression-min-bytes": ints(-1, 4096),
    "--prefill-chunk": ints(-1, 1024),
    "--request-timeout": st.floats(allow_nan=True, allow_infinity=True),
    "--stream-stall-timeout": st.floats(-1, 100_000),
    "--sse-keepalive-s": st.floats(-1, 100),
    "--stream-batch-ms": st.floats(allow_nan=True, allow_infinity=True),
    "--log-level": st.sampled_from(["debug", "INFO", "Warning", "ERROR", "loud", ""]),
}
KEYS = st.text(st.sampled_from(["a", "Z", "9", "-", "_", " ", "é", "\t"]), max_size=6)
ENV_KEYS = st.lists(KEYS, max_size=3).map(",".join)


@settings(max_examples=300, deadline=timedelta(seconds=5), database=None)
@given(
    flags=st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.none(), max_size=8).flatmap(
        lambda chosen: st.fixed_dictionaries({f: FLAG_VALUES[f] for f in chosen})
    ),
    keys=st.lists(KEYS, max_size=2),
    env_keys=ENV_KEYS,
)
def test_every_flag_combination_is_accepted_or_refused_by_name(
    flags: dict[str, Any], keys: list[str], env_keys: str
) -> None:
    argv = ["--model", "tiny"]
    for flag, value in flags.items():
        argv.append(f"{flag}={value}")  # `=`: a value that starts with '-' stays a value
    for key in keys:
        argv.append(f"--api-key={key}")
    config, err = run_flags(argv, env_keys)
    expected = expected_refusal(flags, keys, env_keys)
    if expected:
        assert config is None, f"accepted {argv}, expected a refusal naming {expected}"
        assert refused_flag(err) in expected, err
        assert "Traceback" not in err
        return
    assert config is not None, f"refused {argv}: {err}"
    (model,) = config.models
    # What llama.cpp and the engine need to hold (a failed GGML_ASSERT aborts otherwise).
    assert 1 <= model.parallel <= LLAMA_MAX_SEQ - 1  # one more sequence pads one-token steps
    assert model.n_batch >= model.parallel
    assert model.n_ctx == 0 or model.parallel <= model.n_ctx <= TINY_CTX
    assert model.threads is None or 1 <= model.threads <= GGML_MAX_THREADS
    assert config.stream_buffer >= 1 and config.max_queue >= 0
    assert all(math.isfinite(t) and t > 0 for t in (config.request_timeout, config.sse_keepalive_s))
    assert all(k and " " not in k for k in config.api_keys)
    assert (model.parallel, model.n_batch, model.n_ctx) == (
        flags.get("--parallel", 4),
        flags.get("--n-batch", 512),
        flags.get("--n-ctx", 0),
    )
    assert config.prefill_chunk == flags.get("--prefill-chunk", 0)


@pytest.mark.parametrize(
    ("argv", "flag", "words"),
    [
        (["--parallel", "8", "--n-batch", "4"], "--n-batch", "less than --parallel (8)"),
        (["--n-batch", "1"], "--n-batch", "less than --parallel (4)"),
        (["--parallel", "256"], "--parallel", "at most 255"),
        (["--parallel", "0"], "--parallel", "at least 1"),
        (["--n-ctx", "-1"], "--n-ctx", "at least 0"),
        (["--n-ctx", "2"], "--n-ctx", "less than --parallel"),
        (["--n-ctx", str(TINY_CTX + 1)], "--n-ctx", f"trained context ({TINY_CTX} tokens)"),
        (["--threads", "0"], "--threads", "at least 1"),
        (["--threads", "513"], "--threads", "at most 512"),
        (["--max-queue", "-1"], "--max-queue", "at least 0"),
        (["--request-timeout", "inf"], "--request-timeout", "finite"),
        (["--api-key", ""], "--api-key", "empty"),
        (["--api-key", "two words"], "--api-key", "no spaces"),
        (["--api-key=--"], "--api-key", "end of the options"),
        (["--log-level", "loud"], "--log-level", "unknown level"),
        (["--n-batch", "many"], "--n-batch", "expected an integer"),
        (["--prefill-chunk", "-1"], "--prefill-chunk", "at least 0"),
    ],
)
def test_refusals_name_the_flag_and_why(argv: list[str], flag: str, words: str) -> None:
    config, err = run_flags(["--model", "tiny", *argv])
    assert config is None
    assert refused_flag(err) == flag
    assert words in err.strip().splitlines()[-1]


def test_equal_batch_and_parallel_is_accepted() -> None:
    config, err = run_flags(["--parallel", "8", "--n-batch", "8", "--n-ctx", "8"])
    assert config is not None, err
    assert (config.models[0].parallel, config.models[0].n_batch) == (8, 8)


def test_empty_key_in_the_environment_list_is_skipped_but_a_spaced_one_is_refused() -> None:
    config, err = run_flags([], env_keys=" k1 , ,k2,")
    assert config is not None and config.api_keys == ("k1", "k2"), err
    config, err = run_flags([], env_keys="ok,bad key")
    assert config is None and refused_flag(err) == API_KEYS_ENV
    assert "key 2" in err


# -- --config files --------------------------------------------------------------------------------


def write_config(tmp_path: Path, data: Any, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"models{suffix}"
    text = data if isinstance(data, str) else json.dumps(data)  # JSON is YAML too
    path.write_text(text, encoding="utf-8")
    return path


GOOD = {"id": "good", "path": "tiny"}


@pytest.mark.parametrize(
    ("data", "flags", "blamed", "words"),
    [
        ({"models": [{**GOOD, "ctx": 5}]}, [], "--config", "unknown key(s) ['ctx']"),
        ({"models": [GOOD], "extra": 1}, [], "--config", "unknown top-level key(s)"),
        (
            {"models": [{**GOOD, "n_ctx": "512"}]},
            [],
            "--config",
            "models[0].n_ctx: expected an integer",
        ),
        ({"models": [{**GOOD, "parallel": True}]}, [], "--config", "expected an integer, got bool"),
        ({"models": [{**GOOD, "n_batch": 64.0}]}, [], "--config", "expected an integer, got float"),
        ({"models": [{**GOOD, "threads": "4"}]}, [], "--config", "models[0].threads"),
        ({"models": [{"id": "x", "path": None}]}, [], "--config", "models[0].path: expected a"),
        ({"models": [{"id": 7, "path": "tiny"}]}, [], "--config", "models[0].id: expected a"),
        ({"models": ["tiny"]}, [], "--config", "models[0]: expected a mapping"),
        ({"models": [GOOD, GOOD]}, [], "--config", "'good' is used twice"),
        ({"models": []}, [], "--config", "non-empty 'models' list"),
        (
            {"models": [{**GOOD, "parallel": 300}]},
            [],
            "--config",
            "models[0].parallel: must be at most",
        ),
        (
            {"models": [{**GOOD, "parallel": 8, "n_batch": 4}]},
            [],
            "--config",
            "models[0].n_batch: 4 is less than",
        ),
        ({"models": [{**GOOD, "parallel": 8}]}, ["--n-batch", "4"], "--n-batch", "of --config"),
        ({"models": [{**GOOD, "n_ctx": 4096}]}, [], "--config", "trained context"),
        ({"models": [{"id": "m", "path": "/nowhere/m.gguf"}]}, [], "--config", "not found"),
        ("models: [unclosed\n", [], "--config", "is not valid YAML"),
    ],
)
def test_bad_config_files_are_refused_by_entry_and_key(
    tmp_path: Path, data: Any, flags: list[str], blamed: str, words: str
) -> None:
    config, err = run_flags(["--config", str(write_config(tmp_path, data)), *flags])
    assert config is None
    assert refused_flag(err) == blamed
    assert words in err.strip().splitlines()[-1]


def test_config_that_is_missing_a_directory_or_bad_json_is_refused(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path):
        config, err = run_flags(["--config", str(path)])
        assert config is None and "cannot read" in err, err
    config, err = run_flags(["--config", str(write_config(tmp_path, "{", ".json"))])
    assert config is None and "is not valid JSON" in err


def test_good_config_takes_each_entry_and_the_flags_for_the_rest(tmp_path: Path) -> None:
    data = {"models": [{**GOOD, "parallel": 2, "n_batch": 2, "threads": None}, {"path": "tiny"}]}
    config, err = run_flags(["--config", str(write_config(tmp_path, data)), "--n-ctx", "64"])
    assert config is not None, err
    (first, second) = config.models
    assert (first.model_id, first.parallel, first.n_batch, first.n_ctx) == ("good", 2, 2, 64)
    assert (second.model_id, second.parallel, second.n_batch) == ("tiny", 4, 512)


# -- the GGUF header reader the n_ctx check relies on ------------------------------------------


def write_gguf(path: Path, arch: str = "llama", context: int | None = 2048, vocab: int = 3000):
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    # A large array before the key: the reader must step over it, as over a real vocabulary.
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    if context is not None:
        writer.add_context_length(context)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    return path


def test_header_reader_finds_the_trained_context_after_a_vocabulary(tmp_path: Path) -> None:
    import gguf

    path = write_gguf(tmp_path / "m.gguf", context=4321)
    assert context_length(path) == 4321
    assert header_value(path, "general.architecture") == "llama"
    tiny = ensure_tiny_model()
    reader = gguf.GGUFReader(str(tiny))
    assert context_length(tiny) == reader.fields["llama.context_length"].contents() == TINY_CTX
    assert _flags.trained_context(str(path)) == 4321


def test_header_reader_gives_none_for_files_it_cannot_read(tmp_path: Path) -> None:
    assert context_length(write_gguf(tmp_path / "none.gguf", context=None)) is None
    (tmp_path / "text.gguf").write_text("not a model", encoding="utf-8")
    assert context_length(tmp_path / "text.gguf") is None
    assert context_length(tmp_path / "missing.gguf") is None
    assert context_length(tmp_path) is None
    huge = tmp_path / "huge.gguf"  # a count that promises more strings than the file holds
    huge.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2) + b"xx")
    assert context_length(huge) is None


@settings(max_examples=60, deadline=timedelta(seconds=5), database=None)
@given(cut=st.integers(0, 40_000))
def test_a_truncated_header_reads_as_unknown_or_right(cut: int) -> None:
    whole = ensure_tiny_model().read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.gguf"
        path.write_bytes(whole[:cut])
        assert context_length(path) in (None, TINY_CTX)


def test_speed_choices_reach_the_config() -> None:
    config, err = run_flags(["--model", "tiny"])
    assert config is not None, err
    assert (config.prefill_chunk, config.batch_invariant) == (0, False)
    config, err = run_flags(["--model", "tiny", "--prefill-chunk", "64", "--batch-invariant"])
    assert config is not None, err
    assert (config.prefill_chunk, config.batch_invariant) == (64, True)
