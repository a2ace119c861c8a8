"""GuideLLM and AIPerf on the calibration mock, when they are installed (``shutil.which``).

The commands are those of GuideLLM 0.8.1 (``guidellm run`` with ``kind=…`` options) and AIPerf
0.13.0 (``aiperf profile``), both run this way; their JSON exports are read by metric name, so a
renamed field shows up as a missing row rather than a wrong number.

AIPerf loads a Hugging Face tokenizer even when it counts tokens from the server's usage, and its
``builtin`` one downloads its vocabulary on first use. Without ``--tokenizer`` the benchmark
writes a word-level tokenizer of the mock's one-word prompt, which needs no network.

Their names map to ours as follows (docs/loadtests.md has the table): their "ITL" is a
per-request mean, our TPOT; GuideLLM's "TPOT" includes the TTFT and has no counterpart.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_DEPTH = 8
PROMPT = "delay"  # the mock's known-latency behaviour


@dataclass
class PeerResult:
    metrics: dict[str, float]
    cpu_s: float
    notes: list[str] = field(default_factory=list)


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def find_stat(data: Any, names: tuple[str, ...], stats: tuple[str, ...], depth: int = 0) -> Any:
    """The first ``stat`` of the first metric called one of ``names``, searched depth-first."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(data, dict):
        for name in names:
            entry = data.get(name)
            if isinstance(entry, dict):
                for stat in stats:
                    if isinstance(entry.get(stat), int | float):
                        return float(entry[stat])
                found = find_stat(entry, ("successful", "total"), stats, depth + 1)
                if found is not None:
                    return found
        for value in data.values():
            found = find_stat(value, names, stats, depth + 1)
            if found is not None:
                return found
    elif isinstance(data, list):
        for value in data[:16]:
            found = find_stat(value, names, stats, depth + 1)
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class Peer:
    name: str
    binary: str
    command: Callable[[str, str, int, float, Path, str], list[str] | None]
    export: str  # glob of the JSON it writes under the output folder
    fields: dict[str, tuple[tuple[str, ...], float]]  # our row -> (their names, scale to ours)
    stats: tuple[str, ...]

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def run(
        self, base_url: str, users: int, duration: float, out: Path, tokenizer: str
    ) -> PeerResult | None:
        path = shutil.which(self.binary)
        folder = out / self.name
        folder.mkdir(exist_ok=True)
        data = folder / "prompts.jsonl"
        # A row per request: GuideLLM ends its run when the rows run out, whatever the duration.
        rows = max(100, int(users * duration * 10))
        data.write_text((json.dumps({"prompt": PROMPT, "text": PROMPT}) + "\n") * rows)
        command = path and self.command(path, base_url, users, duration, folder, tokenizer)
        if not command:
            return None
        before = _child_cpu_s()
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 300, check=False
        )
        cpu = _child_cpu_s() - before
        exports = sorted(folder.rglob(self.export))
        if proc.returncode != 0 or not exports:
            tail = (proc.stdout + proc.stderr)[-800:]
            return PeerResult({}, cpu, [f"{self.name} exited {proc.returncode}: {tail}"])
        report = json.loads(exports[-1].read_text())
        metrics = {}
        for row, (names, scale) in self.fields.items():
            value = find_stat(report, names, self.stats)
            if value is not None:
                metrics[row] = value * scale
        return PeerResult(metrics, cpu, [f"read {exports[-1].name}"])


def _guidellm(
    path: str, url: str, users: int, duration: float, folder: Path, _tokenizer: str
) -> list[str]:
    return [
        path, "run",
        "--backend", f"kind=openai_http,target={url},model=fixture",
        "--profile", f"kind=concurrent,streams={users}",
        "--data", f"kind=json_file,path={folder / 'prompts.jsonl'}",
        "--constraint", f"kind=max_duration,seconds={duration:g}",
        "--output", f"kind=json,path={folder / 'benchmarks.json'}",
    ]  # fmt: skip


def write_prompt_tokenizer(folder: Path) -> Path:
    """A Hugging Face tokenizer folder that knows the mock's prompt word (one token) and nothing
    else: what AIPerf needs to load offline; the token counts it reports come from usage."""
    folder.mkdir(parents=True, exist_ok=True)
    unknown = "[UNK]"
    special = {"id": 0, "content": unknown, "single_word": False, "lstrip": False}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{**special, "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {unknown: 0, PROMPT: 1}, "unk_token": unknown},
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": unknown}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def _aiperf(
    path: str, url: str, users: int, duration: float, folder: Path, tokenizer: str
) -> list[str]:
    tokenizer = tokenizer or str(write_prompt_tokenizer(folder / "tokenizer"))
    return [
        path, "profile", "--model", "fixture", "--url", url, "--endpoint-type", "chat",
        "--streaming", "--concurrency", str(users), "--benchmark-duration", f"{duration:g}",
        "--tokenizer", tokenizer, "--use-server-token-count",
        "--input-file", str(folder / "prompts.jsonl"), "--custom-dataset-type", "single_turn",
        "--output-tokens-mean", "32", "--artifact-dir", str(folder),
    ]  # fmt: skip


PEERS = (
    Peer(
        "guidellm",
        "guidellm",
        _guidellm,
        "benchmarks.json",
        {
            "TTFT ms (mean)": (("time_to_first_token_ms",), 1.0),
            "TPOT ms (mean)": (("inter_token_latency_ms",), 1.0),  # per-request mean gap
            "E2E ms (mean)": (("request_latency",), 1000.0),  # seconds
            "output tok/s": (("output_tokens_per_second",), 1.0),
            "requests/s": (("requests_per_second",), 1.0),
        },
        ("mean",),
    ),
    Peer(
        "aiperf",
        "aiperf",
        _aiperf,
        "profile_export_aiperf.json",
        {
            "TTFT ms (mean)": (("time_to_first_token",), 1.0),
            "TPOT ms (mean)": (("inter_token_latency",), 1.0),  # per-request mean gap
            "E2E ms (mean)": (("request_latency",), 1.0),
            "output tok/s": (("output_token_throughput",), 1.0),
            "requests/s": (("request_throughput",), 1.0),
        },
        ("avg", "mean"),
    ),
)
