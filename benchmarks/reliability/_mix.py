"""The request mix of the soak and the storm, and the well-behaved client that sends it.

A kind of request is one entry of `MIX`. A well-behaved client reads every answer to its end
and judges it: a complete answer (a finish reason, and `[DONE]` for a stream; for the
Responses API a response whose status is completed or incomplete, and for its stream the
terminal event that says so), or a shed one (429/503 with `Retry-After`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from inferno.retry_after import retry_after_seconds
from inferno.sse import SSEError, SSEParser

MODEL = "inferno-tiny"
PROMPTS = (
    "Tell me about the sea.",
    "Write a short poem about a lighthouse.",
    "List some animals that live in the forest.",
    "Explain how a river reaches the ocean.",
    "Describe a quiet morning in a small village.",
)
MAX_TOKENS = 48


def _chat(rng: random.Random, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": rng.choice(PROMPTS)}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.7,
    }
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def _completion(rng: random.Random, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": rng.choice(PROMPTS),
        "max_tokens": MAX_TOKENS,
        "temperature": 0.7,
    }
    if stream:
        body["stream"] = True
    return body


def _embedding(rng: random.Random, stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "input": [rng.choice(PROMPTS) for _ in range(4)]}


def _response(rng: random.Random, stream: bool) -> dict[str, Any]:
    # Stored, as by default: the store's bound is part of what the soak's RSS watches.
    body: dict[str, Any] = {
        "model": MODEL,
        "input": rng.choice(PROMPTS),
        "max_output_tokens": MAX_TOKENS,
        "temperature": 0.7,
    }
    if stream:
        body["stream"] = True
    return body


# How a Responses answer ends well: its status, or the terminal event of its stream.
RESPONSE_ENDED = ("completed", "incomplete")
RESPONSE_TERMINAL = {f"response.{status}" for status in RESPONSE_ENDED}


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    weight: int
    stream: bool
    body: Callable[[random.Random, bool], dict[str, Any]]
    answer: str  # how a complete plain answer shows: "choices", "data" or "output"


MIX: tuple[Kind, ...] = (
    Kind("chat.stream", "/v1/chat/completions", 5, True, _chat, "choices"),
    Kind("chat", "/v1/chat/completions", 2, False, _chat, "choices"),
    Kind("completions.stream", "/v1/completions", 1, True, _completion, "choices"),
    Kind("completions", "/v1/completions", 1, False, _completion, "choices"),
    Kind("embeddings", "/v1/embeddings", 1, False, _embedding, "data"),
    Kind("responses.stream", "/v1/responses", 1, True, _response, "output"),
    Kind("responses", "/v1/responses", 1, False, _response, "output"),
)


def pick(rng: random.Random, mix: tuple[Kind, ...] = MIX) -> Kind:
    return rng.choices(mix, weights=[k.weight for k in mix])[0]


@dataclass
class Outcome:
    kind: str
    started: float  # monotonic
    status: int | None = None
    complete: bool = False  # a whole, well-formed answer
    shed: bool = False  # 429/503 with a Retry-After
    retry_after: float | None = None
    ttft_s: float | None = None  # streams: time to the first generated text
    e2e_s: float = 0.0
    problem: str = ""

    @property
    def error(self) -> bool:
        """Neither a complete answer nor a proper shed: what the soak and storm count."""
        return not (self.complete or self.shed)


async def send(client: httpx.AsyncClient, base_url: str, kind: Kind, rng: random.Random) -> Outcome:
    """One request of the kind, read to its end."""
    outcome = Outcome(kind.name, time.monotonic())
    try:
        async with client.stream(
            "POST", base_url + kind.path, json=kind.body(rng, kind.stream)
        ) as r:
            outcome.status = r.status_code
            if r.status_code in (429, 503):
                await r.aread()
                outcome.retry_after = retry_after_seconds(r.headers.get("retry-after"))
                outcome.shed = outcome.retry_after is not None
                outcome.problem = "" if outcome.shed else "shed without Retry-After"
            elif r.status_code != 200:
                outcome.problem = f"status {r.status_code}: {(await r.aread())[:200]!r}"
            elif kind.stream and kind.answer == "output":
                await _read_response_stream(r, outcome)
            elif kind.stream:
                await _read_stream(r, outcome)
            else:
                _judge_body(json.loads(await r.aread()), kind, outcome)
    except (httpx.HTTPError, ValueError) as exc:
        outcome.problem = f"{type(exc).__name__}: {exc}"[:300]
    outcome.e2e_s = time.monotonic() - outcome.started
    return outcome


def _judge_body(body: Any, kind: Kind, outcome: Outcome) -> None:
    items = body.get(kind.answer) if isinstance(body, dict) else None
    if not items:
        outcome.problem = f"no {kind.answer} in the answer"
    elif kind.answer == "choices" and not all(c.get("finish_reason") for c in items):
        outcome.problem = "a choice without finish_reason"
    elif kind.answer == "output" and body.get("status") not in RESPONSE_ENDED:
        outcome.problem = f"response status {body.get('status')!r}"
    else:
        outcome.complete = True


async def _read_stream(response: httpx.Response, outcome: Outcome) -> None:
    parser = SSEParser()
    finished = done = False
    try:
        async for chunk in response.aiter_bytes():
            for event in parser.feed(chunk):
                if event.data == "[DONE]":
                    done = True
                    continue
                payload = json.loads(event.data)
                if "error" in payload:
                    outcome.problem = f"error event: {payload['error']}"[:300]
                    return
                for choice in payload.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or choice.get("text")
                    if text and outcome.ttft_s is None:
                        outcome.ttft_s = time.monotonic() - outcome.started
                    finished = finished or bool(choice.get("finish_reason"))
        parser.close()
    except SSEError as exc:
        outcome.problem = f"bad stream: {exc}"
        return
    outcome.complete = done and finished
    if not outcome.complete:
        outcome.problem = f"stream ended without {'[DONE]' if finished else 'a finish_reason'}"


async def _read_response_stream(response: httpx.Response, outcome: Outcome) -> None:
    """A Responses stream: named events, no `[DONE]`; it ends well with its terminal event."""
    parser = SSEParser()
    ended = ""
    try:
        async for chunk in response.aiter_bytes():
            for event in parser.feed(chunk):
                payload = json.loads(event.data)
                kind = payload.get("type", "")
                if kind in ("error", "response.failed"):
                    outcome.problem = f"{kind} event: {event.data[:250]}"
                    return
                if kind == "response.output_text.delta" and outcome.ttft_s is None:
                    outcome.ttft_s = time.monotonic() - outcome.started
                if kind in RESPONSE_TERMINAL:
                    ended = kind
        parser.close()
    except SSEError as exc:
        outcome.problem = f"bad stream: {exc}"
        return
    outcome.complete = bool(ended)
    if not ended:
        outcome.problem = "stream ended without response.completed or response.incomplete"
