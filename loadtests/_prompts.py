"""Prompt sources: a small built-in set of varied lengths, or a JSONL file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: tuple[dict[str, str], ...]
    max_tokens: int | None = None

    @property
    def text(self) -> str:
        """The prompt as plain text, for /v1/completions and /v1/embeddings."""
        return "\n".join(m.get("content", "") for m in self.messages)


_FILLER = (
    "The committee reviewed the quarterly figures, the maintenance schedule and the open "
    "questions from the previous meeting before turning to the budget. "
)

# Lengths span a short question to a few hundred characters, so prefill cost varies per request
# while still fitting small context windows.
BUILTIN: tuple[str, ...] = (
    "Hi!",
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in two sentences why the sky is blue.",
    "List three uses of a paperclip, one per line.",
    "Translate to Spanish: the weather is nice today and we are going for a walk.",
    "Summarise the following note in one sentence: " + _FILLER,
    "Continue this story: the lighthouse keeper found a letter under the door one morning.",
    "Rewrite more formally: hey, can u send me the report by tomorrow? thx",
    "Read the minutes and list the topics discussed. " + _FILLER * 2,
)


def builtin_prompts() -> list[Prompt]:
    return [Prompt(({"role": "user", "content": text},)) for text in BUILTIN]


def load_prompts(path: str | Path, limit: int = 100_000) -> list[Prompt]:
    """Read a JSONL file: one object per line with ``prompt`` (str) or ``messages`` (list)."""
    prompts: list[Prompt] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if len(prompts) >= limit:
                break
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            prompts.append(_from_item(item, f"{path}:{number}"))
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts


def _from_item(item: object, where: str) -> Prompt:
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object")
    max_tokens = item.get("max_tokens")
    if max_tokens is not None and not isinstance(max_tokens, int):
        raise ValueError(f"{where}: max_tokens must be an integer")
    if isinstance(item.get("messages"), list):
        messages = tuple(
            {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in item["messages"]
            if isinstance(m, dict)
        )
        if messages:
            return Prompt(messages, max_tokens)
    if isinstance(item.get("prompt"), str):
        return Prompt(({"role": "user", "content": item["prompt"]},), max_tokens)
    raise ValueError(f"{where}: needs 'prompt' (string) or 'messages' (list)")
