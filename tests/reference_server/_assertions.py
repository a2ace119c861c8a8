"""Shared checks for the API tests: every body and every SSE event is validated against specs/.

Nothing here restates a schema: JSON bodies go through `specs.response_validator`, stream
chunks through `specs.stream_event_validator` and errors through `specs.error_validator`.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

import specs
from inferno.sse import parse as parse_sse

MODEL = "inferno-tiny"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# The SDK gets a plain number: it builds the Timeout of its own HTTP library (httpx2 in
# openai 3.x), which refuses an httpx.Timeout.
SDK_TIMEOUT_S = 30.0
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"
HELLO = [{"role": "user", "content": "Hello"}]

# The error `type` OpenAI uses for each status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
    504: "server_error",
    507: "server_error",
}
ANY = object()  # "do not check this field"


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=TIMEOUT, **kwargs)


def sdk_client(base_url: str, api_key: str = "unused") -> openai.OpenAI:
    """The official openai SDK against a reference server root: no retries, a plain timeout."""
    return openai.OpenAI(
        base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=SDK_TIMEOUT_S
    )


def chat_body(**overrides: Any) -> dict[str, Any]:
    """A small temperature-0 chat request; overrides replace or add fields."""
    body: dict[str, Any] = {"model": MODEL, "messages": HELLO, "temperature": 0, "max_tokens": 8}
    body.update(overrides)
    return body


def completion_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "prompt": "Hello", "temperature": 0, "max_tokens": 8}
    body.update(overrides)
    return body


# ------------------------------------------------------------------------------ validation


def check_schema(validator: Draft202012Validator, instance: Any, what: str) -> None:
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        shown = json.dumps(instance, ensure_ascii=False)[:1500]
        raise AssertionError(f"{what} breaks the spec at {where}: {error.message}\n{shown}")


def json_body(response: httpx.Response, operation_id: str, status: int = 200) -> dict[str, Any]:
    """The JSON body of a response, after checking its status, media type and schema."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.text[:800]}"
    )
    media = response.headers.get("content-type", "")
    assert media.startswith("application/json"), f"content-type {media!r}"
    body = response.json()
    check_schema(
        specs.response_validator(operation_id, status), body, f"{operation_id} {status} body"
    )
    return body


def error_body(
    response: httpx.Response,
    status: int,
    operation_id: str | None = None,
    *,
    code: Any = ANY,
    param: Any = ANY,
    error_type: Any = None,
) -> dict[str, Any]:
    """The `error` object of an error response, checked against the envelope and the row."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.text[:800]}"
    )
    media = response.headers.get("content-type", "")
    assert media.startswith("application/json"), f"error content-type {media!r}: {response.text}"
    body = response.json()
    check_schema(specs.error_validator(), body, f"{status} error envelope")
    if operation_id is not None:
        validator = specs.response_validator(operation_id, status)
        check_schema(validator, body, f"{operation_id} {status} body")
    error = body["error"]
    expected_type = error_type or ERROR_TYPES[status]
    assert error["type"] == expected_type, error
    assert error["message"], error
    if code is not ANY:
        assert error["code"] == code, error
    if param is not ANY:
        assert error["param"] == param, error
    return error


# ------------------------------------------------------------------------------------ SSE


def sse_chunks(response: httpx.Response, operation_id: str) -> list[dict[str, Any]]:
    """The JSON chunks of a finished stream; checks framing, `[DONE]` last and every chunk."""
    assert response.status_code == 200, f"{response.status_code}: {response.text[:800]}"
    media = response.headers.get("content-type", "")
    assert media.startswith("text/event-stream"), f"content-type {media!r}: {response.text[:300]}"
    assert response.text.endswith("\n\n"), f"stream does not end an event: {response.text[-200:]!r}"
    events = parse_sse(response.content)
    assert events, "empty stream"
    assert events[-1].data == "[DONE]", f"last event is {events[-1].data!r}, not [DONE]"
    validator = specs.stream_event_validator(operation_id)
    chunks = []
    for number, event in enumerate(events[:-1]):
        assert event.data != "[DONE]", f"[DONE] at event {number}, before the end"
        chunk = json.loads(event.data)
        check_schema(validator, chunk, f"{operation_id} event {number}")
        chunks.append(chunk)
    return chunks


def choice_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every choice object of every chunk, in order."""
    return [choice for chunk in chunks for choice in chunk["choices"]]


def chat_stream_text(chunks: list[dict[str, Any]]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for choice in choice_chunks(chunks):
        piece = choice["delta"].get("content") or ""
        texts[choice["index"]] = texts.get(choice["index"], "") + piece
    return texts


def completion_stream_text(chunks: list[dict[str, Any]]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for choice in choice_chunks(chunks):
        texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
    return texts


def finish_reasons(chunks: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Every non-null finish_reason per choice index (a correct stream has exactly one each)."""
    found: dict[int, list[str]] = {}
    for choice in choice_chunks(chunks):
        if choice["finish_reason"] is not None:
            found.setdefault(choice["index"], []).append(choice["finish_reason"])
    return found


def stop_across_tokens(body: dict[str, Any]) -> tuple[str, str]:
    """(text, stop): a stop string that straddles a token boundary of a chat reply.

    The reply must carry logprobs. A stop that starts in one token and ends in the next is
    the case a server has to hold text back for, so it is the one worth testing.
    """
    choice = body["choices"][0]
    text = choice["message"]["content"]
    tokens = [entry["token"] for entry in choice["logprobs"]["content"]]
    assert text.startswith("".join(tokens)), (text, tokens)
    for i in range(3, len(tokens) - 1):
        stop = tokens[i][-2:] + tokens[i + 1][:2]
        if len(stop.strip()) >= 3:
            return text, stop
    raise AssertionError(f"no usable token boundary in {tokens}")


# -------------------------------------------------------------------------------- metrics

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>[^}]*)\})?"
    r" (?P<value>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|NaN|Inf|\+Inf|-Inf))"
    r"(?: \d+)?$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
_SUFFIXES = ("_bucket", "_sum", "_count")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Samples of a Prometheus text exposition; fails on any line that breaks the format."""
    samples: Samples = {}
    for name, labels, value in metric_samples(text):
        key = (name, frozenset(labels))
        assert key not in samples, f"duplicate sample {name} {labels}"
        samples[key] = value
    return samples


def metric_samples(text: str) -> Iterator[tuple[str, list[tuple[str, str]], float]]:
    """(name, labels in their order, value) of each sample; fails on a line that breaks the
    format."""
    types: dict[str, str] = {}
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
                if parts[2].endswith("_total"):
                    assert parts[3] == "counter", f"{parts[2]} ends in _total but is a {parts[3]}"
            continue
        match = _SAMPLE.match(line)
        assert match, f"line {number} is not a Prometheus sample: {line!r}"
        name = match["name"]
        family = name
        if name not in types:
            family = next((name.removesuffix(s) for s in _SUFFIXES if name.endswith(s)), name)
        assert family in types, f"sample {name} has no # TYPE line before it"
        labels_text = match["labels"] or ""
        labels = _LABEL.findall(labels_text)
        rebuilt = ",".join(f'{k}="{v}"' for k, v in labels)
        assert rebuilt == labels_text.rstrip(","), f"bad labels in {line!r}"
        yield name, labels, float(match["value"])


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent: counters start at zero)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_idle(http: httpx.Client, timeout: float = 10.0) -> None:
    """Waits until no model runs or queues work, so counter deltas belong to one test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        models = http.get("/health").json().get("models", {})
        if all(not m.get("running") and not m.get("queued") for m in models.values()):
            return
        time.sleep(0.05)
    raise AssertionError(f"server still busy after {timeout:g} s")


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    check_schema(specs.response_validator("getMetrics"), response.text, "/metrics body")
    return parse_metrics(response.text)


# ------------------------------------------------------------------------------ tokenizer


@functools.cache
def _vocab() -> Any:
    from llama_cpp import Llama

    from reference_server.tiny_model import ensure_tiny_model

    return Llama(model_path=str(ensure_tiny_model()), vocab_only=True, verbose=False)


def tokenize(text: str) -> list[int]:
    """The tiny model's own tokens for a text (with BOS, as the completions API counts them)."""
    return _vocab().tokenize(text.encode("utf-8"), add_bos=True)


def token_id(piece: str) -> int:
    """The id of the token whose text is exactly `piece`."""
    vocab = _vocab()
    wanted = piece.encode("utf-8")
    matches = [t for t in range(vocab.n_vocab()) if vocab.detokenize([t]) == wanted]
    assert matches, f"no token is {piece!r}"
    return matches[0]


def tokens_starting_with(prefix: str) -> list[int]:
    """Every token id whose text starts with `prefix` (for logit_bias in tests)."""
    vocab = _vocab()
    wanted = prefix.encode("utf-8")
    return [t for t in range(vocab.n_vocab()) if vocab.detokenize([t]).startswith(wanted)]
