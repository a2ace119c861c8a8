"""Reusable contract checks shared by the test modules. Each names its rule in failures."""

from __future__ import annotations

import json
from typing import Any

from compliance import _schema
from compliance._client import Exchange
from compliance._failure import ensure, fail

# A prompt that makes any instruction-following model talk for a while; tests never assume what
# it says, only that the answer is long enough to truncate or cut.
LONG_PROMPT = "Write a long story about a lighthouse keeper and the sea. Use at least 300 words."
COMPLETION_PROMPT = "Once upon a time, in a small village by the sea, there lived"
# Fallbacks for models that answer the first prompt briefly; tried in order, at most this many.
CHAT_PROMPTS = (
    LONG_PROMPT,
    "Count from one to one hundred in words.",
    "Describe the sea in detail.",
    "List fifty animals.",
)
COMPLETION_PROMPTS = (
    COMPLETION_PROMPT,
    "The history of the Roman Empire begins",
    "Here is a list of fifty animals: dog, cat,",
)


def chat_body(model: str, content: str = LONG_PROMPT, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 16,
        "temperature": 0,
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def completion_body(model: str, prompt: str = COMPLETION_PROMPT, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": 16, "temperature": 0}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def expect_ok(exchange: Exchange, operation_id: str, profile: str, rule: str) -> Any:
    """A 200 JSON answer whose body validates against the spec; returns the parsed body."""
    if exchange.error:
        fail(f"{rule}.transport", f"request failed: {exchange.error}", exchange)
    ensure(
        exchange.status == 200, f"{rule}.status", f"expected 200, got {exchange.status}", exchange
    )
    ensure(
        "application/json" in exchange.content_type,
        f"{rule}.content-type",
        f"expected Content-Type application/json, got {exchange.content_type!r}",
        exchange,
    )
    body = exchange.json(f"{rule}.json")
    _schema.check(_schema.response(operation_id, 200, profile), body, f"{rule}.schema", exchange)
    return body


def expect_error(
    exchange: Exchange,
    statuses: set[int],
    profile: str,
    rule: str,
    *,
    error_type: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """A documented error status with the OpenAI error envelope (and type/param/code if given)."""
    if exchange.error:
        fail(f"{rule}.transport", f"no response to a bad request: {exchange.error}", exchange)
    status = exchange.status or 0
    if status >= 500:
        fail(f"{rule}.5xx", f"bad input must be a 4xx, not a server error {status}", exchange)
    ensure(
        status in statuses,
        f"{rule}.status",
        f"expected status {sorted(statuses)}, got {status}",
        exchange,
    )
    ensure(
        "application/json" in exchange.content_type,
        f"{rule}.content-type",
        f"error must be JSON, got Content-Type {exchange.content_type!r}",
        exchange,
    )
    body = exchange.json(f"{rule}.json")
    _schema.check(_schema.error_envelope(profile), body, f"{rule}.envelope", exchange, "error body")
    error = body["error"]
    for field, expected in (("type", error_type), ("param", param), ("code", code)):
        if expected is not None:
            ensure(
                error.get(field) == expected,
                f"{rule}.{field}",
                f"expected error.{field} {expected!r}, got {error.get(field)!r}",
                exchange,
            )
    return body


def check_usage(usage: Any, exchange: Exchange, rule: str, *, completion: bool = True) -> None:
    """Token counts are non-negative integers and add up."""
    ensure(isinstance(usage, dict), rule, f"usage must be an object, got {usage!r}", exchange)
    keys = ["prompt_tokens", "total_tokens"] + (["completion_tokens"] if completion else [])
    for key in keys:
        value = usage.get(key)
        ensure(
            isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            rule,
            f"usage.{key} must be a non-negative integer, got {value!r}",
            exchange,
        )
    ensure(
        usage["prompt_tokens"] >= 1,
        rule,
        "usage.prompt_tokens is 0 for a non-empty prompt",
        exchange,
    )
    expected = usage["prompt_tokens"] + (usage["completion_tokens"] if completion else 0)
    ensure(
        usage["total_tokens"] == expected,
        rule,
        f"usage.total_tokens {usage['total_tokens']} != prompt_tokens + completion_tokens "
        f"({expected})",
        exchange,
    )


def stream_chunks(exchange: Exchange, operation_id: str, profile: str, rule: str) -> list[dict]:
    """Check the SSE framing and return the JSON chunks (without the final [DONE])."""
    if exchange.error:
        fail(f"{rule}.transport", f"stream failed: {exchange.error}", exchange)
    ensure(
        exchange.status == 200, f"{rule}.status", f"expected 200, got {exchange.status}", exchange
    )
    ensure(
        exchange.content_type.split(";")[0].strip() == "text/event-stream",
        f"{rule}.content-type",
        f"a stream must have Content-Type text/event-stream, got {exchange.content_type!r}",
        exchange,
    )
    sse = exchange.sse
    assert sse is not None
    if sse.stopped == "max_events":
        fail(f"{rule}.endless", f"stream did not end after {len(sse.events)} events", exchange)
    if sse.stopped == "deadline":
        fail(f"{rule}.deadline", f"stream still open after {sse.elapsed:.1f} s", exchange)
    if sse.stopped:
        fail(f"{rule}.transport", f"stream broke: {sse.stopped}", exchange)
    events = sse.events
    ensure(events, f"{rule}.empty", "the stream carried no events", exchange)
    done = [i for i, e in enumerate(events) if e.data.strip() == "[DONE]"]
    ensure(done, f"{rule}.done", "the stream did not end with `data: [DONE]`", exchange)
    ensure(
        done == [len(events) - 1],
        f"{rule}.done-last",
        f"`data: [DONE]` must be the last event and appear once (at {done} of {len(events)})",
        exchange,
    )
    validator = _schema.chunk(operation_id, profile)
    chunks = []
    for index, event in enumerate(events[:-1]):
        try:
            chunk = json.loads(event.data)
        except ValueError:
            fail(f"{rule}.json", f"event {index} is not JSON: {event.data[:200]!r}", exchange)
        if isinstance(chunk, dict) and "error" in chunk:
            fail(f"{rule}.hidden-error", f"event {index} is an error inside a 200 stream", exchange)
        _schema.check(validator, chunk, f"{rule}.schema", exchange, f"event {index}")
        chunks.append(chunk)
    return chunks
