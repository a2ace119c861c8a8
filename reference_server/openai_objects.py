"""Builders for the OpenAI response objects (the spec's schemas are the contract they meet)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from .engine import TokenLogprob

SYSTEM_FINGERPRINT = "inferno-llama.cpp"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    """Token counts; `cached_tokens` are prompt tokens whose KV cells an earlier request left."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


def chat_logprobs(entries: list[TokenLogprob]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": e.token,
                "logprob": e.logprob,
                "bytes": list(e.token_bytes),
                "top_logprobs": [
                    {"token": t.token, "logprob": t.logprob, "bytes": list(t.token_bytes)}
                    for t in e.top
                ],
            }
            for e in entries
        ],
        "refusal": None,
    }


def completion_logprobs(entries: list[TokenLogprob], text_offset: int) -> dict[str, Any]:
    """The legacy completions shape: parallel lists, top alternatives as {token: logprob}."""
    offsets = []
    position = text_offset
    for e in entries:
        offsets.append(position)
        position += len(e.token)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [{t.token: t.logprob for t in e.top} for e in entries],
        "text_offset": offsets,
    }


class _Chunks:
    """The chunks of one stream share one id, one created time and one object type."""

    OBJECT = ""
    ID_PREFIX = ""

    def __init__(self, model: str) -> None:
        self.id = new_id(self.ID_PREFIX)
        self.created = now()
        self.model = model

    def chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.OBJECT,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
            **extra,
        }

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> dict[str, Any]:
        return self.chunk([], usage=usage(prompt_tokens, completion_tokens, cached_tokens))


class ChatChunks(_Chunks):
    OBJECT = "chat.completion.chunk"
    ID_PREFIX = "chatcmpl"

    def delta(
        self,
        index: int,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
        }
        return self.chunk([choice])


class CompletionChunks(_Chunks):
    OBJECT = "text_completion"
    ID_PREFIX = "cmpl"

    def text(
        self,
        index: int,
        text: str,
        finish_reason: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.chunk(
            [{"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}]
        )
