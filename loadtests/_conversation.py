"""Conversations: what each turn adds to the history, and the shared system prompt.

A conversation user keeps the whole history (its questions and the answers it received) and sends
it back with every turn, as a chat client does: each request repeats the previous one as its
prefix, which is what a server's prompt cache can reuse. ``--shared-prefix-tokens`` adds a system
prompt common to every request of the run, the other kind of reuse (one system prompt, many users).
"""

from __future__ import annotations

import random

from ._prompts import Prompt
from ._settings import SETTINGS

# The messages a turn adds before its request, and the turn's max_tokens (None: --max-tokens).
Turn = tuple[tuple[dict[str, str], ...], int | None]


def with_prefix(messages: list[dict[str, str]], prefix: str) -> list[dict[str, str]]:
    """The messages behind the shared system prompt (merged into a leading system message)."""
    if not prefix:
        return list(messages)
    if messages and messages[0].get("role") == "system":
        first = {"role": "system", "content": f"{prefix}\n\n{messages[0].get('content', '')}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": prefix}, *messages]


def conversation_turns(prompt: Prompt, rng: random.Random) -> list[Turn]:
    """--turns turns: the prompt, its recorded follow-ups, then other prompts' questions."""
    turns: list[Turn] = [(prompt.messages, prompt.max_tokens)]
    for text, max_tokens in prompt.followups[: SETTINGS.turns - 1]:
        turns.append((({"role": "user", "content": text},), max_tokens))
    while len(turns) < SETTINGS.turns:
        other = SETTINGS.pick_prompt(rng)
        question = other.messages[-1].get("content", "")
        turns.append((({"role": "user", "content": question},), other.max_tokens))
    return turns
