"""The Responses API's WebSocket mode (`GET /v1/responses` upgraded; OpenAI's and Open
Responses' alike): turns streamed as SSE streams are, several on one connection, continuation of
the connection's `store: false` response, and the errors that keep the connection open.

Skipped with the reason where the server offers no WebSocket mode (`--require
responses_websocket` makes that a failure).
"""

from __future__ import annotations

import uuid

import pytest

from compliance import _responses as r
from compliance import _responses_ws as w
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings
from compliance._responses_rules import (
    WS_CONTINUATION,
    WS_EVICT,
    WS_NOT_FOUND,
    WS_SEQUENTIAL,
    WS_TURN,
)
from compliance._ws import Connection

NOT_FOUND = "previous_response_not_found"


@pytest.fixture(autouse=True)
def _needs_websocket_mode(caps: Capabilities) -> None:
    caps.need("responses")
    caps.need("responses_websocket")


def test_responses_ws_turn(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    request = r.body(model, max_output_tokens=32)
    whole, whole_ex = r.create(client, settings.profile, request)
    expected = r.said(whole, whole_ex, "the non-streamed response")
    with w.connect(client, caps) as connection:
        _, final, exchange = w.answered(connection, request, settings.profile)
    said = r.said(final, exchange, "the WebSocket turn's response")
    ensure(
        said == expected,
        WS_TURN,
        f"at temperature 0 the turn says {said!r}, POST /responses {expected!r}",
        exchange,
        cause=f"{WS_TURN}: another text than POST /responses",
    )


def test_responses_ws_sequential(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    with w.connect(client, caps) as connection:
        first = _remembered(connection, model, "Reply with: first", settings)
        second_request = _body(model, "Reply with: second")
        _, second, exchange = w.answered(
            connection, second_request, settings.profile, WS_SEQUENTIAL
        )
    ensure(
        second.get("id") != first.get("id"),
        WS_SEQUENTIAL,
        f"the second turn answered with the first turn's response {first.get('id')!r}",
        exchange,
    )


def test_responses_ws_continuation(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    with w.connect(client, caps) as connection:
        first = _remembered(connection, model, "The code word is cobalt.", settings)
        request = _body(model, "What is the code word?", previous_response_id=first["id"])
        _, second, exchange = w.answered(connection, request, settings.profile, WS_CONTINUATION)
    ensure(
        second.get("previous_response_id") == first["id"],
        WS_CONTINUATION,
        f"previous_response_id is echoed as {second.get('previous_response_id')!r}, "
        f"not {first.get('id')!r}",
        exchange,
        cause=f"{WS_CONTINUATION}: not echoed",
    )
    before = (first.get("usage") or {}).get("input_tokens")
    after = (second.get("usage") or {}).get("input_tokens")
    if isinstance(before, int) and isinstance(after, int):
        # The continued context holds the first input, its answer and the new input.
        ensure(
            after > before,
            WS_CONTINUATION,
            f"the continued turn counts {after} input tokens, no more than the first turn's "
            f"{before}: it did not see the earlier conversation",
            exchange,
        )


def test_responses_ws_unknown_previous(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    unknown = f"resp_inferno_missing_{uuid.uuid4().hex}"
    with w.connect(client, caps) as connection:
        request = _body(model, "Continue.", previous_response_id=unknown)
        refusal = w.refused(connection, request, settings.profile, WS_NOT_FOUND)
        _expect_not_found(refusal, f"an unknown previous_response_id {unknown!r}")
        # The error ended the turn, not the connection: the next turn is answered on it.
        w.answered(connection, _body(model, "Say hello."), settings.profile, WS_NOT_FOUND)


def test_responses_ws_store_false_after_reconnect(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    with w.connect(client, caps) as connection:
        first = _remembered(connection, model, "The code word is copper.", settings)
    with w.connect(client, caps) as connection:
        request = _body(model, "What is the code word?", previous_response_id=first["id"])
        refusal = w.refused(connection, request, settings.profile, WS_NOT_FOUND)
    _expect_not_found(refusal, "a store: false response of another connection")


def test_responses_ws_failed_continuation_evicts(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    orphan = [{"type": "function_call_output", "call_id": "call_inferno_none", "output": "?"}]
    with w.connect(client, caps) as connection:
        first = _remembered(connection, model, "The code word is ember.", settings)
        failing = _body(model, orphan, previous_response_id=first["id"])
        refusal = w.refused(connection, failing, settings.profile, WS_EVICT)
        ensure(
            refusal.failed,
            WS_EVICT,
            "a function_call_output that answers no call of the previous response was "
            "answered: the continuation must fail",
            refusal.exchange,
            cause=f"{WS_EVICT}: orphan output accepted",
        )
        retry = _body(model, "What is the code word?", previous_response_id=first["id"])
        refusal = w.refused(connection, retry, settings.profile, WS_EVICT)
    ensure(
        refusal.code == NOT_FOUND,
        WS_EVICT,
        f"after a failed continuation, continuing the same response gave "
        f"{_outcome(refusal)}, not {NOT_FOUND}",
        refusal.exchange,
    )


def _remembered(connection: Connection, model: str, fact: str, settings: Settings) -> dict:
    """The response of a first turn that tells the model something, kept by the connection."""
    return w.answered(connection, _body(model, fact), settings.profile)[1]


def _body(model: str, prompt: object, **extra: object) -> dict:
    """A short temperature-0 turn kept on the connection only (store: false)."""
    return r.body(model, prompt, store=False, **extra)


def _expect_not_found(refusal: w.Refusal, what: str) -> None:
    ensure(
        refusal.code == NOT_FOUND,
        WS_NOT_FOUND,
        f"{what} gave {_outcome(refusal)}, not an error {NOT_FOUND}",
        refusal.exchange,
    )


def _outcome(refusal: w.Refusal) -> str:
    if not refusal.failed:
        return "an answer"
    return f"an error with code {refusal.code!r}"
