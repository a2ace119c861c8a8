"""A prompt over the context window: a 4xx before any stream opens, plain and streamed.

The prompt is about a million characters of distinct words (several hundred thousand tokens with
any tokenizer), beyond the context of any model a server runs today and under common body limits.
A 413 from a server with a smaller body limit is accepted: it is also a 4xx before any stream.
"""

from __future__ import annotations

import pytest

from compliance._answer import MODES, request
from compliance._capabilities import Capabilities
from compliance._checks import chat_body, completion_body, expect_error, expect_error_field
from compliance._client import ApiClient
from compliance._error_table import CONTEXT_CODE
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._shared_rules import LANGCHAIN, LITELLM, SDK
from compliance.rules import BREAKS_CLIENTS, declare

OVERFLOW = declare(
    "context.overflow",
    BREAKS_CLIENTS,
    "a prompt over the context window is a 4xx before any stream opens (clients trim and retry)",
    clients=(SDK, LANGCHAIN, LITELLM),
)
WORDS = 150_000


@pytest.fixture(scope="module")
def huge_prompt() -> str:
    return " ".join(f"word{i % 5000}" for i in range(WORDS))


@pytest.mark.preset("extended")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["chat", "completions"])
def test_context_overflow(
    client: ApiClient,
    settings: Settings,
    model: str,
    caps: Capabilities,
    huge_prompt: str,
    kind: str,
    mode: str,
) -> None:
    if kind == "completions":
        caps.need("completions")
        body = completion_body(model, huge_prompt, max_tokens=1)
    else:
        body = chat_body(model, huge_prompt, max_tokens=1)
    exchange = request(client, kind, body, mode, settings.profile)
    if exchange.status == 200:
        what = "a 200 stream" if mode == "stream" else "200"
        events = [e.data[:120] for e in exchange.events[:3]]
        fail(
            OVERFLOW,
            f"a prompt of {WORDS} words was answered {what} {events or exchange.text[:200]!r}; "
            "it must be refused with a 4xx before anything is generated",
            exchange,
            cause=f"context.overflow answered 200 ({mode})",
        )
    ensure(
        exchange.status is not None and exchange.status < 500,
        OVERFLOW,
        f"a prompt over the context window must be a 4xx, got {exchange.status}",
        exchange,
        cause=f"context.overflow answered {exchange.status}",
    )
    body_ = expect_error(exchange, {400, 413}, settings.profile)
    if settings.strict and exchange.status == 400:
        expect_error_field(exchange, body_, "code", "context_length_exceeded", CONTEXT_CODE)
