"""Stored responses (`store`, true by default): retrieve, input items, delete, `store: false` and
`previous_response_id`. Skipped for a server that keeps no responses (a stateless server)."""

from __future__ import annotations

import pytest

from compliance import _responses as r
from compliance._capabilities import Capabilities
from compliance._checks import expect_error, expect_ok
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings


@pytest.fixture(autouse=True)
def _needs_store(caps: Capabilities) -> None:
    caps.need("responses")
    caps.need("responses_store")


def test_responses_retrieve_stored(client: ApiClient, settings: Settings, model: str) -> None:
    created, _ = r.create(client, settings.profile, r.body(model))
    exchange = client.get(f"{r.PATH}/{created['id']}")
    got = expect_ok(exchange, "getResponse", settings.profile, r.STORE_RETRIEVE)
    for field in ("id", "status", "output"):
        ensure(
            got.get(field) == created.get(field),
            f"{r.STORE_RETRIEVE}.{field}",
            f"the retrieved {field} differs from the created one",
            exchange,
        )


def test_responses_input_items(client: ApiClient, settings: Settings, model: str) -> None:
    first, second = "First message.", "Second message."
    conversation = [{"role": "user", "content": first}, {"role": "user", "content": second}]
    created, _ = r.create(client, settings.profile, r.body(model, conversation))
    path = f"{r.PATH}/{created['id']}/input_items"
    for order, expected in ((None, [second, first]), ("asc", [first, second])):
        exchange = client.get(path + (f"?order={order}" if order else ""))
        page = expect_ok(exchange, "listResponseInputItems", settings.profile, r.STORE_ITEMS)
        texts = [r.input_text(item) for item in page["data"]]
        ensure(
            texts == expected,
            f"{r.STORE_ITEMS}.order",
            f"input items ({order or 'default: desc'}) must be {expected}, got {texts}",
            exchange,
        )


def test_responses_delete(client: ApiClient, settings: Settings, model: str) -> None:
    created, _ = r.create(client, settings.profile, r.body(model))
    deleted = client.request("DELETE", f"{r.PATH}/{created['id']}")
    ensure(
        deleted.status == 200,
        f"{r.STORE_DELETE}.status",
        f"deleting a stored response must answer 200, got {deleted.status}",
        deleted,
    )
    again = client.get(f"{r.PATH}/{created['id']}")
    expect_error(again, {404}, settings.profile, f"{r.STORE_DELETE}.gone")


def test_responses_store_false_is_not_kept(
    client: ApiClient, settings: Settings, model: str
) -> None:
    created, _ = r.create(client, settings.profile, r.body(model, store=False))
    exchange = client.get(f"{r.PATH}/{created['id']}")
    expect_error(exchange, {404}, settings.profile, r.STORE_FALSE)


def test_responses_previous_response_id(client: ApiClient, settings: Settings, model: str) -> None:
    opening = "My name is Ada. Please remember it."
    question = "What is my name?"
    first, _ = r.create(client, settings.profile, r.body(model, opening))
    second, ex = r.create(
        client,
        settings.profile,
        r.body(model, question, previous_response_id=first["id"]),
        r.PREVIOUS,
    )
    ensure(
        second.get("previous_response_id") == first["id"],
        f"{r.PREVIOUS}.echo",
        f"previous_response_id must be repeated, got {second.get('previous_response_id')!r}",
        ex,
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
            f"{r.PREVIOUS}.context",
            f"with previous_response_id the input counts {used['input_tokens']} tokens; the "
            f"same conversation sent explicitly counts {expected['input_tokens']}",
            ex,
        )
