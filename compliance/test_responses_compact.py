"""Compaction (`POST /v1/responses/compact`; OpenAI's and Open Responses' alike): a conversation
compacted into a window of items holding a `compaction` item, which the next request accepts as
its input (over HTTP, and over the WebSocket mode where the server has it).

Skipped with the reason where the server offers no compaction (`--require responses_compact`
makes that a failure).
"""

from __future__ import annotations

from typing import Any

import pytest

from compliance import _responses as r
from compliance import _responses_ws as w
from compliance._capabilities import Capabilities
from compliance._checks import expect_error_row, expect_ok
from compliance._client import ApiClient, Exchange
from compliance._error_table import Row
from compliance._failure import ensure
from compliance._options import Settings
from compliance._responses_rules import COMPACT, COMPACT_CONTINUE

OP = "compactResponse"
PATH = "/responses/compact"
CONVERSATION = [
    {"type": "message", "role": "user", "content": "We launch on Tuesday; support hears first."},
    {"type": "message", "role": "assistant", "content": "Understood: Tuesday, support first."},
]
MISSING_MODEL = Row("compact-missing-model", PATH, {"input": CONVERSATION}, strict_param="model")


@pytest.fixture(autouse=True)
def _needs_compaction(caps: Capabilities) -> None:
    caps.need("responses_compact")


def test_responses_compact_shape(client: ApiClient, settings: Settings, model: str) -> None:
    _compacted(client, settings, model)


@pytest.mark.parametrize("mode", ["plain", "websocket"])
def test_responses_compact_window_continues(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("responses")
    window, _ = _compacted(client, settings, model)
    follow_up = {"type": "message", "role": "user", "content": "Continue: which day do we launch?"}
    request = r.body(model, [*window["output"], follow_up], store=False)
    if mode == "plain":
        exchange = client.post(r.PATH, request)
        ensure(
            exchange.status == 200,
            COMPACT_CONTINUE,
            f"the compacted window sent back as input was answered {exchange.status}",
            exchange,
        )
        response = r.response_of(exchange, request, mode, settings.profile)
    else:
        with w.connect(client, caps) as connection:
            _, response, exchange = w.answered(
                connection, request, settings.profile, COMPACT_CONTINUE
            )
    r.said(response, exchange, "the answer to the compacted window")


def test_responses_compact_missing_model(client: ApiClient, settings: Settings) -> None:
    exchange = client.post(PATH, MISSING_MODEL.body)
    expect_error_row(exchange, MISSING_MODEL, settings.profile)


def _compacted(client: ApiClient, settings: Settings, model: str) -> tuple[Any, Exchange]:
    """The compacted conversation, checked: the spec's shape, a compaction item, usage."""
    request = {"model": model, "input": CONVERSATION, "prompt_cache_key": "inferno-compact"}
    exchange = client.post(PATH, request)
    body = expect_ok(exchange, OP, settings.profile)
    ensure(
        body.get("object") == "response.compaction",
        COMPACT,
        f"object is {body.get('object')!r}, not 'response.compaction'",
        exchange,
        cause=f"{COMPACT}: object",
    )
    output = body.get("output") if isinstance(body.get("output"), list) else []
    kinds = [item.get("type") for item in output if isinstance(item, dict)]
    ensure(
        "compaction" in kinds,
        COMPACT,
        f"the compacted window holds no compaction item (its items: {kinds})",
        exchange,
    )
    if isinstance(body.get("usage"), dict):
        r.check_usage(body["usage"], 2**31, exchange, COMPACT)
    return body, exchange
