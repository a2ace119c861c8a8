"""The error-mapping table: each row is a bad request and the documented answer.

`statuses` is what OpenAI's contract allows; `strict_*` adds the stricter rules of our spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compliance.rules import STRICT, Rule, declare

METHOD_405 = declare(
    "strict.method-405",
    STRICT,
    "a wrong method on a known route is 405 (HTTP; OpenAI itself answers 404 'Invalid URL')",
)
MEDIA_415 = declare(
    "strict.media-type-415",
    STRICT,
    "a body sent with a non-JSON Content-Type is 415 Unsupported Media Type",
)
BODY_413 = declare(
    "strict.body-413", STRICT, "a body over the server's size limit is 413 Payload Too Large"
)
CONTEXT_CODE = declare(
    "strict.context-code",
    STRICT,
    "a prompt over the context window is 400 with code context_length_exceeded (as OpenAI)",
)

MESSAGES = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Row:
    id: str
    path: str
    body: Any = None  # a dict is sent as JSON; bytes are sent raw
    method: str = "POST"
    statuses: frozenset[int] = frozenset({400})
    error_type: str | None = "invalid_request_error"
    strict_statuses: frozenset[int] | None = None
    strict_rule: Rule | None = None  # the strict rule that strict_statuses enforce
    strict_param: str | None = None
    strict_code: str | None = None
    feature: str | None = None  # skip the row when the server lacks this feature
    preset: str = "core"
    headers: dict[str, str] = field(default_factory=dict)


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "{model}", "messages": MESSAGES, "max_tokens": 1, **fields}


def _completion(**fields: Any) -> dict[str, Any]:
    return {"model": "{model}", "prompt": "hi", "max_tokens": 1, **fields}


CHAT = "/chat/completions"
COMP = "/completions"
EMB = "/embeddings"

ROWS: tuple[Row, ...] = (
    Row("chat-missing-model", CHAT, {"messages": MESSAGES}, strict_param="model"),
    Row("chat-missing-messages", CHAT, {"model": "{model}"}, strict_param="messages"),
    Row("chat-messages-not-array", CHAT, _chat(messages="hi"), strict_param="messages"),
    Row("chat-messages-empty", CHAT, _chat(messages=[]), strict_param="messages"),
    Row("chat-bad-role", CHAT, _chat(messages=[{"role": "wizard", "content": "hi"}])),
    Row("chat-temperature-high", CHAT, _chat(temperature=2.5), strict_param="temperature"),
    Row("chat-temperature-type", CHAT, _chat(temperature="hot"), strict_param="temperature"),
    Row("chat-top-p-high", CHAT, _chat(top_p=1.5), strict_param="top_p"),
    Row("chat-n-zero", CHAT, _chat(n=0), strict_param="n"),
    Row("chat-max-tokens-zero", CHAT, _chat(max_tokens=0), strict_param="max_tokens"),
    Row("chat-max-tokens-negative", CHAT, _chat(max_tokens=-5), strict_param="max_tokens"),
    Row("chat-max-tokens-type", CHAT, _chat(max_tokens="ten"), strict_param="max_tokens"),
    Row("chat-presence-penalty", CHAT, _chat(presence_penalty=3), strict_param="presence_penalty"),
    Row(
        "chat-frequency-penalty",
        CHAT,
        _chat(frequency_penalty=-3),
        strict_param="frequency_penalty",
    ),
    Row("chat-top-logprobs-high", CHAT, _chat(logprobs=True, top_logprobs=25), preset="extended"),
    Row("chat-stream-type", CHAT, _chat(stream="yes"), strict_param="stream"),
    Row("chat-malformed-json", CHAT, b'{"model": "x", "messages": ['),
    Row("chat-body-not-object", CHAT, b"[1, 2, 3]"),
    # OpenAI: 404, param null, code model_not_found.
    Row(
        "chat-unknown-model",
        CHAT,
        _chat(model="inferno-no-such-model-7f3a"),
        statuses=frozenset({404}),
        strict_code="model_not_found",
    ),
    Row("completions-missing-prompt", COMP, {"model": "{model}"}, feature="completions"),
    Row(
        "completions-max-tokens-negative",
        COMP,
        _completion(max_tokens=-1),
        feature="completions",
        strict_param="max_tokens",
    ),
    Row(
        "completions-unknown-model",
        COMP,
        _completion(model="inferno-no-such-model-7f3a"),
        statuses=frozenset({404}),
        feature="completions",
        strict_code="model_not_found",
    ),
    Row("embeddings-missing-input", EMB, {"model": "{embedding_model}"}, feature="embeddings"),
    Row(
        "embeddings-empty-string",
        EMB,
        {"model": "{embedding_model}", "input": ""},
        feature="embeddings",
        strict_param="input",
    ),
    Row(
        "embeddings-bad-encoding",
        EMB,
        {"model": "{embedding_model}", "input": "x", "encoding_format": "hex"},
        feature="embeddings",
        strict_param="encoding_format",
    ),
    Row(
        "embeddings-unknown-model",
        EMB,
        {"model": "inferno-no-such-model-7f3a", "input": "x"},
        statuses=frozenset({404}),
        feature="embeddings",
        strict_code="model_not_found",
    ),
    Row("unknown-route", "/inferno-no-such-route", {}, statuses=frozenset({404})),
    # OpenAI answers a wrong method with 404 "Invalid URL"; our stricter spec says 405.
    Row(
        "wrong-method",
        CHAT,
        None,
        method="GET",
        statuses=frozenset({404, 405}),
        strict_statuses=frozenset({405}),
        strict_rule=METHOD_405,
    ),
    # A form-encoded body is not JSON whatever it says: rejected, never served or a 5xx.
    Row(
        "non-json-content-type",
        CHAT,
        b"model=x&messages=hi",
        statuses=frozenset({400, 415}),
        strict_statuses=frozenset({415}),
        strict_rule=MEDIA_415,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    # A body far beyond any context window: rejected as too large or too long, never a 5xx/hang.
    Row(
        "oversized-body",
        CHAT,
        "OVERSIZED",
        statuses=frozenset({400, 413}),
        error_type=None,
        strict_statuses=frozenset({413}),
        strict_rule=BODY_413,
        preset="extended",
    ),
)

AUTH_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/models", None),
    ("POST", CHAT, _chat()),
    ("POST", COMP, _completion()),
    ("POST", EMB, {"model": "{embedding_model}", "input": "x"}),
)


def fill(value: Any, model: str, embedding_model: str) -> Any:
    """Substitute the configured model ids into a row's body."""
    if isinstance(value, dict):
        return {k: fill(v, model, embedding_model) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, model, embedding_model) for v in value]
    if value == "{model}":
        return model
    if value == "{embedding_model}":
        return embedding_model
    return value
