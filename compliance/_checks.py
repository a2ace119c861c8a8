"""Reusable contract checks shared by the test modules. Each names its rule in failures."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import specs
from compliance import _schema
from compliance import _shared_rules as R
from compliance._client import Exchange
from compliance._endpoints import family_of
from compliance._error_table import Row
from compliance._failure import ensure, fail
from compliance.rules import Rule
from inferno.sse import SSEEvent

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


def route(exchange: Exchange) -> str:
    """`POST /v1/chat/completions`: the request's method and path, ids in the path generalised."""
    path = urlsplit(exchange.url).path
    path = re.sub(r"(/models/)[^/]+$", r"\1{model}", path)
    return f"{exchange.method} {path}"


def parse_json(exchange: Exchange, rule: Rule = R.JSON) -> Any:
    if exchange.error:
        fail(R.TRANSPORT, f"no response: {exchange.error}", exchange)
    try:
        return json.loads(exchange.body)
    except ValueError as exc:
        fail(
            rule, f"response body is not JSON ({exc})", exchange, cause=f"{rule} {route(exchange)}"
        )


def expect_ok(exchange: Exchange, operation_id: str, profile: str) -> Any:
    """A 200 JSON answer whose body validates against the spec; returns the parsed body."""
    where = route(exchange)
    if exchange.error:
        fail(R.TRANSPORT, f"request failed: {exchange.error}", exchange, cause=where)
    ensure(
        exchange.status == 200,
        R.STATUS,
        f"expected 200, got {exchange.status}",
        exchange,
        cause=f"{where} answered {_status_and_code(exchange)}",
    )
    ensure(
        "application/json" in exchange.content_type,
        R.CONTENT_TYPE,
        f"expected Content-Type application/json, got {exchange.content_type!r}",
        exchange,
        cause=f"{where}: {exchange.content_type or 'no content type'}",
    )
    body = parse_json(exchange)
    _schema.check(
        _schema.response(operation_id, 200, profile),
        body,
        R.SCHEMA,
        exchange,
        scope=operation_id,
        by_path=R.SCHEMA_PATHS,
        profile=profile,
    )
    return body


def expect_error(
    exchange: Exchange,
    statuses: set[int],
    profile: str,
    *,
    error_type: str | set[str] | None = None,
    type_rule: Rule = R.ERROR_TYPE,
) -> dict[str, Any]:
    """A documented error status with the OpenAI error envelope (and error.type if given)."""
    if exchange.error:
        fail(R.TRANSPORT, f"no response to a bad request: {exchange.error}", exchange)
    status = exchange.status or 0
    if status >= 500:
        fail(R.ERROR_5XX, f"bad input must be a 4xx, not a server error {status}", exchange)
    expected = sorted(statuses)
    # One row per cause: an unknown model and an unknown response id both answered 400 are two
    # faults, told apart by the endpoint family and the error code the server gave.
    code = _error_code(exchange)
    ensure(
        status in statuses,
        R.ERROR_STATUS,
        f"expected status {expected}, got {status}",
        exchange,
        cause=f"{family_of(exchange.url)}: answers {status}"
        + (f" (code {code})" if code else "")
        + f" where OpenAI answers {'/'.join(map(str, expected))}",
    )
    ensure(
        "application/json" in exchange.content_type,
        R.ERROR_CONTENT_TYPE,
        f"error must be JSON, got Content-Type {exchange.content_type!r}",
        exchange,
        cause=f"errors as {exchange.content_type.split(';')[0] or 'no content type'}",
    )
    body = parse_json(exchange, R.ERROR_CONTENT_TYPE)
    _schema.check(_schema.error_envelope(profile), body, R.ERROR_ENVELOPE, exchange, "error body")
    if error_type is not None and _error_object(body) is not None:
        allowed = {error_type} if isinstance(error_type, str) else set(error_type)
        got = body["error"].get("type")
        ensure(
            got in allowed,
            type_rule,
            f"expected error.type {' or '.join(sorted(allowed))}, got {got!r}",
            exchange,
            cause=f"{type_rule} {got!r}",
        )
    return body


def expect_error_field(
    exchange: Exchange, body: dict[str, Any], field: str, expected: str | None, rule: Rule
) -> None:
    """error.<field> equals what OpenAI answers (the strict profile's param and code rules)."""
    error = _error_object(body)
    if error is None:
        return  # no envelope to read: errors.envelope has said so
    got = error.get(field)
    ensure(
        got == expected,
        rule,
        f"expected error.{field} {expected!r}, got {got!r}",
        exchange,
        cause=f"{rule} {'missing' if got is None else 'wrong'}",
    )


def _error_object(body: Any) -> dict[str, Any] | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _status_and_code(exchange: Exchange) -> str:
    code = _error_code(exchange) if exchange.status != 200 else None
    return f"{exchange.status}" + (f" (code {code})" if code else "")


def _error_code(exchange: Exchange) -> str | None:
    """error.code of an error answer, if it has one (for telling causes apart)."""
    try:
        error = _error_object(json.loads(exchange.body[:65536]))
    except ValueError:
        return None
    code = error.get("code") if error else None
    return str(code)[:60] if code else None


def check_usage(usage: Any, exchange: Exchange, rule: Rule, *, completion: bool = True) -> None:
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


def stream_framing(exchange: Exchange) -> list[SSEEvent]:
    """Check what frames any stream (transport, status, media type, an end within the limits)
    and return its events."""
    where = route(exchange)
    if exchange.error:
        fail(R.TRANSPORT, f"stream failed: {exchange.error}", exchange, cause=where)
    ensure(
        exchange.status == 200,
        R.STATUS,
        f"expected 200, got {exchange.status}",
        exchange,
        cause=f"{where} (stream) answered {_status_and_code(exchange)}",
    )
    ensure(
        exchange.content_type.split(";")[0].strip() == "text/event-stream",
        R.SSE_CONTENT_TYPE,
        f"a stream must have Content-Type text/event-stream, got {exchange.content_type!r}",
        exchange,
    )
    sse = exchange.sse
    assert sse is not None
    if sse.stopped == "max_events":
        fail(R.SSE_ENDLESS, f"stream did not end after {len(sse.events)} events", exchange)
    if sse.stopped == "deadline":
        fail(R.SSE_ENDLESS, f"stream still open after {sse.elapsed:.1f} s", exchange)
    if sse.stopped:
        fail(R.SSE_BROKEN, f"stream broke: {sse.stopped}", exchange)
    return sse.events


def stream_chunks(exchange: Exchange, operation_id: str, profile: str) -> list[dict]:
    """Check the SSE framing and return the JSON chunks (without the final [DONE])."""
    events = stream_framing(exchange)
    ensure(events, R.SSE_EMPTY, "the stream carried no events", exchange)
    done = [i for i, e in enumerate(events) if e.data.strip() == "[DONE]"]
    for index, event in enumerate(events):
        if index in done:
            continue
        try:
            chunk = json.loads(event.data)
        except ValueError:
            fail(R.SSE_JSON, f"event {index} is not JSON: {event.data[:200]!r}", exchange)
        if isinstance(chunk, dict) and "error" in chunk:
            fail(R.SSE_HIDDEN_ERROR, f"event {index} is an error inside a 200 stream", exchange)
    ensure(done, R.SSE_DONE, "the stream did not end with `data: [DONE]`", exchange)
    ensure(
        done == [len(events) - 1],
        R.SSE_DONE,
        f"`data: [DONE]` must be the last event and appear once (at {done} of {len(events)})",
        exchange,
    )
    validator = _schema.chunk(operation_id, profile)
    chunks = []
    for index, event in enumerate(events[:-1]):
        chunk = json.loads(event.data)
        _schema.check(
            validator,
            chunk,
            R.CHUNK_SCHEMA,
            exchange,
            f"event {index}",
            scope=operation_id,
            by_path=R.SCHEMA_PATHS,
            profile=profile,
        )
        chunks.append(chunk)
    return chunks


def expect_error_row(exchange: Exchange, row: Row, profile: str) -> None:
    """An error-table row: first what OpenAI's contract allows, then what strict adds (each
    its own rule)."""
    answer = expect_error(exchange, set(row.statuses), profile, error_type=row.error_type)
    if not specs.has_profile(profile, "strict"):
        return
    if row.strict_statuses and row.strict_rule:
        ensure(
            exchange.status in row.strict_statuses,
            row.strict_rule,
            f"expected {sorted(row.strict_statuses)}, got {exchange.status}",
            exchange,
        )
    if row.strict_param:
        expect_error_field(exchange, answer, "param", row.strict_param, R.STRICT_PARAM)
    if row.strict_code:
        expect_error_field(exchange, answer, "code", row.strict_code, R.STRICT_CODE)


def expect_auth_refused(exchange: Exchange, key: str, profile: str) -> None:
    """A request with a `missing` or `wrong` key: 401 in the envelope."""
    ensure(
        exchange.status == 401,
        R.AUTH,
        f"a {key} key must be refused with 401, got {exchange.status}",
        exchange,
        cause=f"{key} key answered {exchange.status}",
    )
    # OpenAI answers 401 with type invalid_request_error (code invalid_api_key for a wrong
    # key): strict accepts that as well as authentication_error, and adds nothing OpenAI breaks.
    expect_error(
        exchange,
        {401},
        profile,
        error_type=R.AUTH_TYPES if specs.has_profile(profile, "strict") else None,
        type_rule=R.AUTH_TYPE,
    )
