"""Prompt sources: a small built-in set of varied lengths, or a file (see ``_datasets``)."""

from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_TOKEN = 4  # the usual rough estimate, for when no tokenizer or usage block is at hand


def estimate_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a request sends, plus the later user turns of a recorded conversation.

    ``followups`` are (user text, max_tokens or None) of turns 2, 3, ... as a dataset recorded
    them; a conversation user sends them in order after the first turn.
    """

    messages: tuple[dict[str, str], ...]
    max_tokens: int | None = None
    followups: tuple[tuple[str, int | None], ...] = ()

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


# Common English words, each one token for most tokenizers: N of them make a prefix of about
# N tokens. The text is a pure function of N, so every process and machine sends the same one.
_PREFIX_WORDS = (
    *("the", "people", "of", "the", "city", "live", "and", "work", "by", "the", "river", "at"),
    *("the", "old", "mountain", "and", "the", "sea", "they", "build", "new", "house", "and"),
    *("walk", "to", "the", "water", "one", "day", "with", "their", "child", "in", "the"),
    *("long", "good", "time", "of", "the", "year"),
)


def shared_prefix(tokens: int) -> str:
    """A common system prompt of about ``tokens`` tokens ("" for 0)."""
    if tokens <= 0:
        return ""
    words = [_PREFIX_WORDS[(i * 7) % len(_PREFIX_WORDS)] for i in range(max(1, tokens - 1))]
    return " ".join(words) + "."
