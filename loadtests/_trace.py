"""``--trace FILE``: replay a timed request trace open loop.

Two families of public traces are read:
- JSONL in the Mooncake style, one request per line: ``timestamp`` (ms from the trace's start),
  ``input_length`` and ``output_length`` (tokens), optional ``hash_ids`` (the prompt's blocks of
  512 tokens: equal ids are equal text, so shared prefixes reach the server's prompt cache as in
  production), optional ``session_id`` (or ``conversation_id``) and optional ``prompt`` (text
  sent as is instead of a made-up one);
- CSV in the BurstGPT style: ``Timestamp`` (seconds), ``Request tokens``, ``Response tokens``,
  optional ``Session ID``/``Conversation ID``; rows with no response tokens (failed in the
  original log) are skipped.

Requests leave at their timestamps (divided by ``--trace-speed``), whatever the server's latency.
Prompts without text are made of common words, about one token each, from the run's seed and the
block ids, so the same seed sends the same text. A session's requests are numbered in order, and
the summary's turn table shows TTFT and cached tokens by that number.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._prompts import _PREFIX_WORDS, Prompt

MAX_ENTRIES = 100_000  # as for prompt files: a longer trace is cut, with a warning in the log
MAX_PROMPT_TOKENS = 200_000  # made-up prompts longer than this are cut
BLOCK_TOKENS = 512  # Mooncake's hash block size


@dataclass(frozen=True, slots=True)
class TraceEntry:
    at_s: float  # from the trace's first request
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()
    session: str | None = None
    turn: int | None = None  # the request's number within its session
    prompt: str | None = None


def _int(value: Any, default: int = 0) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return default


def _jsonl_rows(path: Path) -> Iterator[tuple[float, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}:{number}: not JSON") from None
            if not isinstance(row, dict) or "timestamp" not in row:
                raise ValueError(f"{path}:{number}: needs a 'timestamp' (ms)")
            yield (
                float(row["timestamp"]) / 1000.0,
                {
                    "input": row.get("input_length"),
                    "output": row.get("output_length"),
                    "hash_ids": row.get("hash_ids") or (),
                    "session": row.get("session_id", row.get("conversation_id")),
                    "prompt": row.get("prompt"),
                },
            )


def _csv_rows(path: Path) -> Iterator[tuple[float, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 2):
            if row.get("Timestamp") in (None, ""):
                raise ValueError(f"{path}:{number}: needs a 'Timestamp' column (seconds)")
            if not _int(row.get("Response tokens")):
                continue  # a failed request in the original log
            yield (
                float(row["Timestamp"]),
                {
                    "input": row.get("Request tokens"),
                    "output": row.get("Response tokens"),
                    "session": row.get("Session ID") or row.get("Conversation ID") or None,
                },
            )


def load_trace(path: str | Path, max_entries: int = MAX_ENTRIES) -> list[TraceEntry]:
    """The trace's requests in time order, timestamps from its first request."""
    path = Path(path)
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    raw: list[tuple[float, dict[str, Any]]] = []
    for item in rows:
        if len(raw) >= max_entries:
            break
        raw.append(item)
    if not raw:
        raise ValueError(f"{path}: no requests in the trace")
    raw.sort(key=lambda item: item[0])
    start = raw[0][0]
    turns: dict[str, int] = {}
    entries = []
    for at, row in raw:
        session = None if row.get("session") in (None, "") else str(row["session"])
        turn = None
        if session is not None:
            turn = turns[session] = turns.get(session, 0) + 1
        entries.append(
            TraceEntry(
                at_s=at - start,
                input_tokens=min(_int(row.get("input"), 1), MAX_PROMPT_TOKENS),
                output_tokens=max(1, _int(row.get("output"), 1)),
                hash_ids=tuple(_int(h) for h in row.get("hash_ids") or ()),
                session=session,
                turn=turn,
                prompt=row.get("prompt") if isinstance(row.get("prompt"), str) else None,
            )
        )
    return entries


def _words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(_PREFIX_WORDS) for _ in range(count)]


def trace_prompt(entry: TraceEntry, seed: int) -> Prompt:
    """What to send for one trace request: its own text, or about input_tokens made-up words."""
    if entry.prompt is not None:
        text = entry.prompt
    else:
        words: list[str] = []
        for block in entry.hash_ids:  # equal block ids: equal text, whoever sends them
            if len(words) >= entry.input_tokens:
                break
            words += _words(random.Random(f"inferno-trace:{seed}:{block}"), BLOCK_TOKENS)
        wanted = max(1, entry.input_tokens)  # an empty message is an error on most servers
        if len(words) < wanted:
            rest = random.Random(f"inferno-trace:{seed}:{entry.at_s}:{entry.input_tokens}")
            words += _words(rest, wanted - len(words))
        text = " ".join(words[:wanted])
    return Prompt(({"role": "user", "content": text},), max_tokens=entry.output_tokens)


def trace_schedule(
    entries: list[TraceEntry], speed: float, index: int = 0, count: int = 1
) -> Iterator[tuple[float, TraceEntry]]:
    """(due seconds, entry) of this process's share: every ``count``-th request from ``index``
    (a session's requests may go out from different processes; the order in time is kept)."""
    for number, entry in enumerate(entries):
        if number % max(1, count) == index:
            yield entry.at_s / speed, entry


def trace_length_s(entries: list[TraceEntry], speed: float) -> float:
    return entries[-1].at_s / speed if entries else 0.0
