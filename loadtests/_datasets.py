"""``--prompts FILE``: JSONL or a JSON array, of our own items or ShareGPT-style conversations.

Items (one per line, or one per array element):
- ``{"prompt": "..."}`` or a bare string; ``{"messages": [...]}`` sent as they are; both with an
  optional integer ``max_tokens``;
- ShareGPT: ``{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", ...}, ...]}``.
  The human turns are what is sent: the first as the prompt, the later ones as a conversation
  user's follow-ups. Each recorded reply's length (about 4 characters per token) becomes the
  ``max_tokens`` of the turn it answers, so the output lengths follow the dataset. A ``system``
  turn becomes a system message; a conversation without a human turn is skipped.

A JSON array is read element by element, so a multi-gigabyte dump does not have to fit in memory
at once; at most ``limit`` prompts are kept (the first ones).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ._prompts import Prompt, estimate_tokens

READ_CHARS = 1 << 20
MAX_ITEM_CHARS = 64 << 20  # one array element larger than this is a broken file, not a prompt
HUMAN = {"human", "user"}
ASSISTANT = {"gpt", "assistant", "chatgpt", "bard", "bing", "model"}


def load_prompts(path: str | Path, limit: int = 100_000) -> list[Prompt]:
    prompts: list[Prompt] = []
    with open(path, encoding="utf-8") as fh:
        for where, item in _items(fh, str(path)):
            if len(prompts) >= limit:
                break
            prompt = _from_item(item, where)
            if prompt is not None:
                prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts


def _items(fh: IO[str], path: str) -> Iterator[tuple[str, object]]:
    head = fh.read(READ_CHARS)
    if head.lstrip().startswith("["):
        try:
            for i, item in enumerate(_array(fh, head.lstrip())):
                yield f"{path}[{i}]", item
        except ValueError as exc:  # from the array reader; an item's own errors name their place
            raise ValueError(f"{path}: {exc}") from None
        return
    rest = head
    number = 0
    while True:
        lines = rest.split("\n")
        more = fh.read(READ_CHARS)
        if more:
            rest = lines.pop() + more  # the last line may be cut
        for line in lines:
            number += 1
            if line.strip():
                try:
                    yield f"{path}:{number}", json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        if not more:
            return
        if len(rest) > MAX_ITEM_CHARS:
            raise ValueError(f"{path}:{number + 1}: a line longer than {MAX_ITEM_CHARS} characters")


def _array(fh: IO[str], buf: str) -> Iterator[Any]:
    """The elements of a JSON array, decoded one at a time from a file read in blocks."""
    decoder = json.JSONDecoder()
    pos, eof = 1, False  # buf starts with "["
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(buf) or (not eof and len(buf) - pos < 2):
            if eof:
                raise ValueError("JSON array is not closed")
            more = fh.read(READ_CHARS)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        if buf[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            if eof or len(buf) - pos > MAX_ITEM_CHARS:
                raise ValueError(f"not JSON ({exc})") from None
            item, end = None, -1
        if end == -1 or (end >= len(buf) and not eof):  # cut by the block boundary: read on
            more = fh.read(READ_CHARS)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        yield item
        pos = end


def _from_item(item: object, where: str) -> Prompt | None:
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object")
    if isinstance(item.get("conversations"), list):
        return _from_sharegpt(item["conversations"], where)
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
    raise ValueError(f"{where}: needs 'prompt' (string), 'messages' (list) or 'conversations'")


def _from_sharegpt(turns: list[Any], where: str) -> Prompt | None:
    system: list[dict[str, str]] = []
    humans: list[list[Any]] = []  # [text, recorded reply length or None]
    for turn in turns:
        if not isinstance(turn, dict):
            raise ValueError(f"{where}: a conversation turn is not an object")
        speaker = str(turn.get("from") or turn.get("role") or "").lower()
        text = turn.get("value", turn.get("content"))
        if not isinstance(text, str):
            continue
        if speaker == "system" and not humans:
            system.append({"role": "system", "content": text})
        elif speaker in HUMAN:
            humans.append([text, None])
        elif speaker in ASSISTANT and humans and humans[-1][1] is None:
            humans[-1][1] = estimate_tokens(text)
    if not humans:
        return None
    (first, first_max), *later = humans
    return Prompt(
        (*system, {"role": "user", "content": first}),
        first_max,
        tuple((text, max_tokens) for text, max_tokens in later),
    )
