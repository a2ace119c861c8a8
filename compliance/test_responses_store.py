"""Stored responses (`store`, true by default): retrieve, input items, delete, `store: false` and
`previous_response_id`. Skipped for a server that keeps no responses (a stateless server), unless
it says it kept them: a response that says `store: true` promised to be read back, and a 404 then
is a failure, not a declined feature."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance import _responses as r
from compliance import _responses_rules as rules
from compliance._capabilities import Capabilities
from compliance._checks import expect_error, expect_ok
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings


@pytest.fixture(autouse=True)
def _needs_store(caps: Capabilities, client: ApiClient, model: str) -> None:
    caps.need("responses")
    if caps.probe("responses_store").present or _says_stored(client, model):
        return
    caps.need("responses_store")


def _says_stored(client: ApiClient, model: str) -> bool:
    """Whether the server answers `store: true` with a response that says it stored it (read
    as it came: the checks that run next judge the answer itself)."""
    exchange = client.post(r.PATH, r.body(model, store=True))
    try:
        return exchange.status == 200 and json.loads(exchange.body).get("store") is True
    except (ValueError, AttributeError):
        return False


def _read_back(client: ApiClient, path: str, operation: str, profile: str) -> Any:
    """A stored response (or its items) read back: a 404 breaks the promise of `store: true`
    (one deviation whichever read found it)."""
    rule = rules.STORE_RETRIEVE
    exchange = client.get(path)
    ensure(
        exchange.status != 404,
        rule,
        f"a response created with store: true (the default) is 404 at GET {path.split('?')[0]}",
        exchange,
        cause=f"{rule}: 404 after store: true",
    )
    return expect_ok(exchange, operation, profile), exchange


def test_responses_retrieve_stored(client: ApiClient, settings: Settings, model: str) -> None:
    created, created_ex = r.create(client, settings.profile, r.body(model))
    r.said(created, created_ex, "the created response")  # an output to compare
    path = f"{r.PATH}/{created['id']}"
    got, exchange = _read_back(client, path, "getResponse", settings.profile)
    for field in ("id", "status", "output"):
        ensure(
            got.get(field) == created.get(field),
            rules.STORE_RETRIEVE,
            f"the retrieved {field} differs from the created one",
            exchange,
            cause=f"{rules.STORE_RETRIEVE}: {field}",
        )


def test_responses_input_items(client: ApiClient, settings: Settings, model: str) -> None:
    first, second = "First message.", "Second message."
    conversation = [{"role": "user", "content": first}, {"role": "user", "content": second}]
    created, _ = r.create(client, settings.profile, r.body(model, conversation))
    path = f"{r.PATH}/{created['id']}/input_items"
    for order, expected in ((None, [second, first]), ("asc", [first, second])):
        query = path + (f"?order={order}" if order else "")
        operation = "listResponseInputItems"
        page, exchange = _read_back(client, query, operation, settings.profile)
        texts = [r.input_text(item) for item in page["data"]]
        ensure(
            texts == expected,
            rules.STORE_ITEMS,
            f"input items ({order or 'default: desc'}) must be {expected}, got {texts}",
            exchange,
        )


def test_responses_delete(client: ApiClient, settings: Settings, model: str) -> None:
    created, _ = r.create(client, settings.profile, r.body(model))
    deleted = client.request("DELETE", f"{r.PATH}/{created['id']}")
    ensure(
        deleted.status == 200,
        rules.STORE_DELETE,
        f"deleting a stored response must answer 200, got {deleted.status}",
        deleted,
        cause=f"{rules.STORE_DELETE}: DELETE answered {deleted.status}",
    )
    again = client.get(f"{r.PATH}/{created['id']}")
    ensure(
        again.status == 404,
        rules.STORE_DELETE,
        f"a deleted response must be gone (404), got {again.status}",
        again,
        cause=f"{rules.STORE_DELETE}: still there",
    )
    expect_error(again, {404}, settings.profile)


def test_responses_store_false_is_not_kept(
    client: ApiClient, settings: Settings, model: str
) -> None:
    created, _ = r.create(client, settings.profile, r.body(model, store=False))
    exchange = client.get(f"{r.PATH}/{created['id']}")
    ensure(
        exchange.status == 404,
        rules.STORE_FALSE,
        f"a response created with store: false must not be retrievable, got {exchange.status}",
        exchange,
    )
    expect_error(exchange, {404}, settings.profile)


def test_responses_previous_response_id(client: ApiClient, settings: Settings, model: str) -> None:
    opening = "My name is Ada. Please remember it."
    question = "What is my name?"
    first, first_ex = r.create(client, settings.profile, r.body(model, opening))
    # The earlier output must be there to be the context of the next turn.
    r.said(first, first_ex, "the earlier response")
    second, ex = r.create(
        client,
        settings.profile,
        r.body(model, question, previous_response_id=first["id"]),
    )
    ensure(
        second.get("previous_response_id") == first["id"],
        rules.PREVIOUS,
        f"previous_response_id must be repeated, got {second.get('previous_response_id')!r}",
        ex,
        cause=f"{rules.PREVIOUS}: not echoed",
    )
    # The earlier input and output are the context: the same items sent explicitly cost the
    # same input tokens.
    explicit = [{"role": "user", "content": opening}, *first["output"]]
    explicit.append({"role": "user", "content": question})
    stateless, _ = r.create(client, settings.profile, r.body(model, explicit))
    used, expected = (second.get("usage") or {}), (stateless.get("usage") or {})
    if "input_tokens" in used and "input_tokens" in expected:
        ensure(
            used["input_tokens"] == expected["input_tokens"],
            rules.PREVIOUS,
            f"with previous_response_id the input counts {used['input_tokens']} tokens; the "
            f"same conversation sent explicitly counts {expected['input_tokens']}",
            ex,
            cause=f"{rules.PREVIOUS}: the earlier turn is not the context",
        )
