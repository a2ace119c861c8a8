"""Preconditions from facts a server cannot misreport, and the rules of token limits and stops.

A check that needs "an answer cut by max_tokens" must not ask the server whether it cut it: a
server that misreports finish_reason would then skip the very check that catches it. The facts
used instead are the texts themselves (at temperature 0 a 3-token answer is a prefix of the
24-token one, and shorter when the model had more to say) and token counts only where they can
only convict (more tokens than allowed).
"""

from __future__ import annotations

from typing import Any

import pytest

from compliance._answer import Answer, ask
from compliance._checks import CHAT_PROMPTS, COMPLETION_PROMPTS, chat_body, completion_body
from compliance._client import ApiClient
from compliance._failure import ComplianceFailure, ensure, fail
from compliance._shared_rules import SSE_ENDLESS
from compliance._stop import pick_stop
from compliance.rules import BREAKS_CLIENTS, CONTRACT, declare

LIMIT_HONOURED = declare(
    "limit.honoured",
    CONTRACT,
    "no more than max_tokens / max_completion_tokens tokens are generated",
)
LIMIT_LENGTH = declare(
    "limit.finish-length",
    BREAKS_CLIENTS,
    "an answer cut by the token limit ends with finish_reason 'length' (clients detect truncation)",
    clients=("pydantic-ai", "langchain-openai"),
)
STOP_HONOURED = declare(
    "stop.honoured", CONTRACT, "a stop sequence ends the text before it; it is not included"
)
STOP_FINISH = declare(
    "stop.finish-reason", CONTRACT, "an answer ended by a stop sequence has finish_reason 'stop'"
)
PRECONDITION = declare(
    "facts.consistent",
    CONTRACT,
    "at temperature 0 a shorter token limit gives a prefix of the longer answer",
)

CUT = 3
FREE = 24
# A token's text is rarely over a dozen characters; 3 tokens over this many cannot be 3 tokens.
MAX_CHARS_PER_TOKEN = 24


def body_for(kind: str, model: str, prompt: str, **extra: Any) -> dict[str, Any]:
    return (
        chat_body(model, prompt, **extra)
        if kind == "chat"
        else completion_body(model, prompt, **extra)
    )


def prompts(kind: str) -> tuple[str, ...]:
    return CHAT_PROMPTS if kind == "chat" else COMPLETION_PROMPTS


def completion_tokens(answer: Answer) -> int | None:
    usage = answer.usage or {}
    value = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_honoured(answer: Answer, limit: int, field: str) -> None:
    """Fails when the answer holds more tokens than the limit allows (by usage or by length)."""
    used = completion_tokens(answer)
    ensure(
        used is None or used <= limit * max(1, len(answer.choices)),
        LIMIT_HONOURED,
        f"{field}={limit} but usage.completion_tokens={used}",
        answer.exchange,
    )
    for choice in answer.choices:
        ensure(
            len(choice.text) <= limit * MAX_CHARS_PER_TOKEN,
            LIMIT_HONOURED,
            f"{field}={limit} but choice {choice.index} holds {len(choice.text)} characters",
            answer.exchange,
        )


def cut_answer(
    client: ApiClient, kind: str, model: str, mode: str, profile: str, field: str = "max_tokens"
) -> tuple[Answer, Answer]:
    """(free, cut): a FREE-token answer and the same prompt cut at CUT tokens, where the texts
    show the model had more to say. Skips only when the model itself stops within CUT tokens."""
    seen = []
    for prompt in prompts(kind):
        free = _limited(client, kind, body_for(kind, model, prompt, max_tokens=FREE), mode, profile)
        body = body_for(kind, model, prompt)
        body.pop("max_tokens")
        body[field] = CUT
        cut = _limited(client, kind, body, mode, profile)
        check_honoured(cut, CUT, field)
        a, b = cut.first.text, free.said().text
        if len(a) < len(b):
            ensure(
                b.startswith(a),
                PRECONDITION,
                f"{field}={CUT} gave {a!r}, not a prefix of the {FREE}-token answer {b!r}",
                cut.exchange,
            )
            return free, cut
        seen.append(f"{prompt[:30]!r} -> {b!r}")
    pytest.skip(f"the model stops on its own within {CUT} tokens for every prompt: {seen}")


def _limited(client: ApiClient, kind: str, body: dict[str, Any], mode: str, profile: str) -> Answer:
    """The answer to a request with a token limit; a stream with far more events than the
    limit allows broke the limit first (its endlessness follows from that)."""
    try:
        return ask(client, kind, body, mode, profile)
    except ComplianceFailure as exc:
        if exc.rule is not SSE_ENDLESS:
            raise
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        fail(LIMIT_HONOURED, f"a limit of {limit} tokens, but {exc.message}", exc.exchange)


def stop_answer(
    client: ApiClient, kind: str, model: str, mode: str, profile: str
) -> tuple[str, Answer, str]:
    """(stop, answer, free text): a stop taken from the server's own free answer, and the
    answer to the same prompt with that stop."""
    seen = []
    for prompt in prompts(kind):
        free = ask(client, kind, body_for(kind, model, prompt, max_tokens=FREE), mode, profile)
        text = free.said().text
        stop = pick_stop(text)
        if stop is None:
            seen.append(repr(text))
            continue
        stop_value: Any = [stop] if kind == "chat" else stop
        body = body_for(kind, model, prompt, max_tokens=FREE, stop=stop_value)
        return stop, ask(client, kind, body, mode, profile), text
    pytest.skip(f"temperature-0 output too short or repetitive to derive a stop: {seen}")


def check_stop(stop: str, answer: Answer, free_text: str) -> None:
    # The stop sits a few characters into the free text, so the stopped answer says something.
    choice = answer.said()
    ensure(
        stop not in choice.text,
        STOP_HONOURED,
        f"stop {stop!r} (taken from the server's own output {free_text!r}) appears in the answer",
        answer.exchange,
    )
    ensure(
        choice.finish_reason == "stop",
        STOP_FINISH,
        f"output cut by a stop sequence must end with finish_reason 'stop', "
        f"got {choice.finish_reasons}",
        answer.exchange,
    )


def check_cut(cut: Answer, field: str) -> None:
    ensure(
        cut.first.finish_reason == "length",
        LIMIT_LENGTH,
        f"{field}={CUT} cut the answer (a longer limit gives more text), finish_reason must be "
        f"'length', got {cut.first.finish_reasons}",
        cut.exchange,
    )
