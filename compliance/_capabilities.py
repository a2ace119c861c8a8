"""Feature probing: a feature is absent only when the server explicitly rejects it.

A server that answers 200 to a feature request has claimed the feature, so the checks hold it to
the contract; a 5xx is never read as "absent" (that would hide real bugs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from compliance._client import ApiClient, Exchange
from compliance._ws import NOT_OFFERED, Connection

# Statuses a server uses to say "not supported here"; anything else means "claims support".
_ABSENT_STATUSES = {400, 404, 405, 422, 501}
# An upgrade to a WebSocket has answers of its own for "not here" (426, or a plain 200).
_ABSENT_BY_FEATURE = {"responses_websocket": NOT_OFFERED}

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}

TOOL_CHOICE = {"type": "function", "function": {"name": "get_weather"}}

JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
            "additionalProperties": False,
        },
    },
}


@dataclass
class Probe:
    present: bool
    reason: str


def _reason(exchange: Exchange) -> str:
    try:
        message = json.loads(exchange.body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = exchange.text[:200]
    return f"server answered {exchange.status}: {message}"


class Capabilities:
    """Lazily probes each feature once per test session (per xdist worker)."""

    def __init__(
        self, client: ApiClient, model: str, embedding_model: str, required: frozenset[str]
    ):
        self.client = client
        self.model = model
        self.embedding_model = embedding_model
        self.required = required
        self._cache: dict[str, Probe] = {}

    def _chat(self, **extra: object) -> dict[str, object]:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 4,
            "temperature": 0,
            **extra,
        }

    def _probes(self) -> dict[str, Callable[[], Exchange]]:
        c = self.client
        return {
            "completions": lambda: c.post(
                "/completions", {"model": self.model, "prompt": "Hello", "max_tokens": 1}
            ),
            "embeddings": lambda: c.post(
                "/embeddings", {"model": self.embedding_model, "input": "probe"}
            ),
            "tools": lambda: c.post(
                "/chat/completions",
                self._chat(tools=[TOOL], tool_choice=TOOL_CHOICE, max_tokens=64),
            ),
            "logprobs": lambda: c.post(
                "/chat/completions", self._chat(logprobs=True, top_logprobs=2, max_tokens=2)
            ),
            "n": lambda: c.post("/chat/completions", self._chat(n=2, max_tokens=2)),
            "response_format": lambda: c.post(
                "/chat/completions", self._chat(response_format=JSON_SCHEMA_FORMAT, max_tokens=32)
            ),
            "echo": lambda: c.post(
                "/completions",
                {"model": self.model, "prompt": "Hello", "max_tokens": 1, "echo": True},
            ),
            "seed": lambda: c.post("/chat/completions", self._chat(seed=1234)),
            "responses": lambda: c.post("/responses", self._response()),
            "responses_tools": lambda: c.post(
                "/responses",
                self._response(
                    tools=[{"type": "function", **TOOL["function"]}],
                    tool_choice={"type": "function", "name": TOOL["function"]["name"]},
                    max_output_tokens=64,
                ),
            ),
            "responses_store": self._stored_response,
            "responses_websocket": self._websocket_mode,
            "responses_compact": lambda: c.post(
                "/responses/compact",
                {"model": self.model, "input": [{"role": "user", "content": "Say hello."}]},
            ),
        }

    def _response(self, **extra: object) -> dict[str, object]:
        body = {"model": self.model, "input": "Say hello.", "max_output_tokens": 16}
        return {**body, "temperature": 0, **extra}

    def _stored_response(self) -> Exchange:
        """A stored response read back: a server that keeps none answers the read with 404."""
        created = self.client.post("/responses", self._response(store=True))
        if created.status != 200:
            return created
        try:
            response_id = str(json.loads(created.body)["id"])
        except (ValueError, KeyError, TypeError):
            return created  # a broken answer: present, so the checks report what is wrong
        return self.client.get(f"/responses/{response_id}")

    def _websocket_mode(self) -> Exchange:
        """The upgrade of GET /responses alone: a server that offers the mode switches."""
        with Connection(self.client) as connection:
            return connection.open().exchange

    def probe(self, feature: str) -> Probe:
        if feature not in self._cache:
            exchange = self._probes()[feature]()
            if exchange.status in _ABSENT_BY_FEATURE.get(feature, _ABSENT_STATUSES):
                self._cache[feature] = Probe(False, _reason(exchange))
            else:
                self._cache[feature] = Probe(True, "")
        return self._cache[feature]

    def need(self, feature: str) -> None:
        """Skip the calling test when the feature is absent, or fail when --require lists it."""
        probe = self.probe(feature)
        if probe.present:
            return
        message = f"feature '{feature}' not supported: {probe.reason}"
        if feature in self.required:
            pytest.fail(f"[capability.required] {message} (listed in --require)", pytrace=False)
        pytest.skip(message)
