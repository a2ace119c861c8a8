"""The bad configurations `serve` is tried with: fixed cases (bad flags, bad `--config` files,
a bad environment, a model file that cannot load) and seeded random flag combinations.

A case's arguments may name files of the case (`{dir}/name`), written into a fresh folder
before its run.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from reference_server.cli import API_KEYS_ENV

REFUSED, LOAD_FAILS = 2, 1  # exit codes: settings that cannot serve; a model that cannot load


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    expected: int | None = REFUSED  # the exit code it must give; None: serving is fine too

    def to_dict(self) -> dict[str, Any]:
        files = {n: c if isinstance(c, str) else repr(c) for n, c in self.files.items()}
        return {"case": self.name, "argv": list(self.argv), "files": files, "env": self.env} | {
            "expected": self.expected
        }


def _flags(name: str, *argv: str) -> Case:
    return Case(name, ("--model", "tiny", *argv))


def _config(name: str, data: Any, *flags: str, suffix: str = ".yaml") -> Case:
    """A --config file: `data` as JSON (which YAML reads too), or text and bytes as they are."""
    text = data if isinstance(data, str | bytes) else json.dumps(data)
    return Case(name, ("--config", f"{{dir}}/models{suffix}", *flags), {f"models{suffix}": text})


TINY = {"id": "m", "path": "tiny"}

FLAG_CASES = (
    _flags("parallel 0", "--parallel", "0"),
    _flags("parallel above llama.cpp's sequences", "--parallel", "256"),
    _flags("parallel negative", "--parallel=-1"),
    _flags("n_batch below the default parallel", "--n-batch", "2"),
    _flags("n_batch below parallel", "--parallel", "8", "--n-batch", "4"),
    _flags("n_batch not a number", "--n-batch", "many"),
    _flags("n_ctx above the model's", "--n-ctx", "2048"),
    _flags("n_ctx below parallel", "--n-ctx", "2"),
    _flags("n_ctx negative", "--n-ctx=-1"),
    _flags("n_ctx × parallel past 2^32 cells", "--n-ctx", str(2**32 - 1), "--parallel", "2"),
    _flags("threads 0", "--threads", "0"),
    _flags("threads above ggml's limit", "--threads", "513"),
    _flags("threads not a number", "--threads", "many"),
    _flags("n_gpu_layers below -1", "--n-gpu-layers=-2"),
    _flags("api key empty", "--api-key="),
    _flags("api key with a space", "--api-key", "two words"),
    _flags("api key not ASCII", "--api-key", "clé"),
    Case("api key list in the environment", ("--model", "tiny"), env={API_KEYS_ENV: "ok,bad key"}),
    _flags("max queue negative", "--max-queue=-1"),
    _flags("stream buffer 0", "--stream-buffer", "0"),
    _flags("request timeout NaN", "--request-timeout", "nan"),
    _flags("request timeout infinite", "--request-timeout", "inf"),
    _flags("stall timeout 0", "--stream-stall-timeout", "0"),
    _flags("keep-alive negative", "--sse-keepalive-s=-1"),
    _flags("stream batch negative", "--stream-batch-ms=-1"),
    _flags("max body 0", "--max-body-bytes", "0"),
    _flags("port above 65535", "--port", "70000"),
    _flags("log level unknown", "--log-level", "loud"),
    Case("model file missing", ("--model", "/nonexistent/model.gguf")),
    Case("model file not a GGUF", ("--model", "{dir}/broken.gguf"), {"broken.gguf": b"garbage"},
         expected=LOAD_FAILS),
)  # fmt: skip

CONFIG_CASES = (
    _config("config: unknown key", {"models": [{**TINY, "ctx": 5}]}),
    _config("config: unknown top-level key", {"models": [TINY], "extra": 1}),
    _config("config: top level a list", [TINY]),
    _config("config: models empty", {"models": []}),
    _config("config: entry not a mapping", {"models": ["tiny"]}),
    _config("config: path missing", {"models": [{"id": "m"}]}),
    _config("config: path null", {"models": [{"id": "m", "path": None}]}),
    _config("config: id not a string", {"models": [{"id": 7, "path": "tiny"}]}),
    _config("config: duplicate ids", {"models": [TINY, TINY]}),
    _config("config: n_ctx a string", {"models": [{**TINY, "n_ctx": "512"}]}),
    _config("config: parallel yes (YAML bool)", "models:\n  - path: tiny\n    parallel: yes\n"),
    _config("config: n_batch a float", {"models": [{**TINY, "n_batch": 64.0}]}),
    _config("config: threads a string", {"models": [{**TINY, "threads": "4"}]}),
    _config("config: threads 0", {"models": [{**TINY, "threads": 0}]}),
    _config("config: parallel 300", {"models": [{**TINY, "parallel": 300}]}),
    _config("config: parallel 0", {"models": [{**TINY, "parallel": 0}]}),
    _config("config: n_batch below parallel", {"models": [{**TINY, "parallel": 8, "n_batch": 4}]}),
    _config("config: flag n_batch below its parallel", {"models": [{**TINY, "parallel": 8}]},
            "--n-batch", "4"),
    _config("config: n_ctx above the model's", {"models": [{**TINY, "n_ctx": 4096}]}),
    _config("config: model file missing", {"models": [{"id": "m", "path": "/nonexistent.gguf"}]}),
    _config("config: invalid YAML", "models: [unclosed\n"),
    _config("config: invalid JSON", "{", suffix=".json"),
    _config("config: not UTF-8", b"\xff\xfemodels: []\n"),
    Case("config: file missing", ("--config", "{dir}/missing.yaml")),
    Case("config: a directory", ("--config", "{dir}")),
)  # fmt: skip

FIXED_CASES = FLAG_CASES + CONFIG_CASES

# Values for random combinations: (good, bad) for each flag or --config key. A value is bad one
# time in BAD_SHARE, so that about half the combinations serve (good values may still clash:
# --n-batch below --parallel).
BAD_SHARE = 5
RANDOM_FLAGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "--parallel": (("1", "2", "4", "8"), ("0", "256", "-3", "x")),
    "--n-batch": (("4", "8", "64", "512"), ("0", "-1", "1.5")),
    "--n-ctx": (("0", "64", "1024"), ("1025", "2", "-1")),
    "--threads": (("1", "2"), ("0", "513")),
    "--n-gpu-layers": (("0", "-1"), ("-2",)),
    "--max-queue": (("0", "4"), ("-1",)),
    "--stream-buffer": (("1", "8"), ("0",)),
    "--request-timeout": (("30",), ("0", "nan", "inf")),
    "--stream-batch-ms": (("0", "5"), ("-1",)),
    "--api-key": (("sk-test",), ("", "two words")),
    "--log-level": (("info", "WARNING"), ("loud",)),
}
RANDOM_CONFIG: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "id": (("a", "b"), (7, "")),
    "n_ctx": ((0, 64, 1024), (4096, -1, "64")),
    "parallel": ((1, 2, 4), (0, 300, True)),
    "n_batch": ((8, 512), (0, 2.5)),
    "threads": ((None, 1), (0, "2")),
    "n_gpu_layers": ((0, -1), (-5,)),
    "colour": ((), ("blue",)),
}


def _value(rng: random.Random, choices: tuple[tuple[Any, ...], tuple[Any, ...]]) -> Any:
    good, bad = choices
    return rng.choice(bad if not good or rng.randrange(BAD_SHARE) == 0 else good)


def random_cases(count: int, seed: int) -> list[Case]:
    """`count` random combinations: a few flags each, and sometimes a --config file of one or
    two entries with a few random keys. Either outcome, serving or a refusal, is fine."""
    rng = random.Random(seed)
    cases = []
    for number in range(count):
        flags = rng.sample(sorted(RANDOM_FLAGS), rng.randint(1, 4))
        argv = [f"{flag}={_value(rng, RANDOM_FLAGS[flag])}" for flag in flags]
        files: dict[str, str | bytes] = {}
        if rng.random() < 0.25:
            entries = []
            for _ in range(rng.randint(1, 2)):
                keys = rng.sample(sorted(RANDOM_CONFIG), rng.randint(0, 3))
                entries.append({"path": "tiny"} | {k: _value(rng, RANDOM_CONFIG[k]) for k in keys})
            files["models.yaml"] = json.dumps({"models": entries})
            argv = ["--config", "{dir}/models.yaml", *argv]
        else:
            argv = ["--model", "tiny", *argv]
        cases.append(Case(f"random {number}", tuple(argv), files, expected=None))
    return cases
