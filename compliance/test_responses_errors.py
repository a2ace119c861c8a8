"""The Responses API's error rows: bad requests get the documented status and the envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance import _responses as r
from compliance._capabilities import Capabilities
from compliance._checks import expect_auth_refused, expect_error_row
from compliance._client import ApiClient
from compliance._error_table import Row, fill
from compliance._failure import ensure
from compliance._options import Settings
from compliance._responses_rules import HOSTED_TOOL, UNKNOWN_PREVIOUS_404

UNKNOWN_ID = "resp_inferno_no_such_response"
STORED = f"{r.PATH}/{UNKNOWN_ID}"


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "{model}", "input": "hi", "max_output_tokens": 16, **fields}


ROWS: tuple[Row, ...] = (
    Row("responses-missing-model", r.PATH, {"input": "hi"}, strict_param="model"),
    Row("responses-input-number", r.PATH, _body(input=42), strict_param="input"),
    Row("responses-bad-role", r.PATH, _body(input=[{"role": "wizard", "content": "hi"}])),
    Row("responses-temperature-high", r.PATH, _body(temperature=2.5), strict_param="temperature"),
    Row(
        "responses-max-output-tokens-zero",
        r.PATH,
        _body(max_output_tokens=0),
        strict_param="max_output_tokens",
    ),
    Row("responses-tool-without-name", r.PATH, _body(tools=[{"type": "function"}])),
    Row(
        "responses-tool-choice-unknown",
        r.PATH,
        _body(tools=[r.FUNCTION_TOOL], tool_choice={"type": "function", "name": "missing"}),
    ),
    Row("responses-text-format-unknown", r.PATH, _body(text={"format": {"type": "yaml"}})),
    Row("responses-malformed-json", r.PATH, b'{"model": "x", "input": ['),
    Row(
        "responses-unknown-model",
        r.PATH,
        _body(model="inferno-no-such-model-7f3a"),
        statuses=frozenset({404}),
        strict_param="model",
        strict_code="model_not_found",
    ),
    # OpenAI names the unknown id; whether as 400 or 404, never as a 200 that ignores it.
    Row(
        "responses-unknown-previous",
        r.PATH,
        _body(previous_response_id=UNKNOWN_ID),
        statuses=frozenset({400, 404}),
        strict_statuses=frozenset({404}),
        strict_rule=UNKNOWN_PREVIOUS_404,
        strict_param="previous_response_id",
    ),
    Row("responses-get-unknown", STORED, method="GET", statuses=frozenset({404})),
    Row("responses-delete-unknown", STORED, method="DELETE", statuses=frozenset({404})),
    Row(
        "responses-input-items-unknown",
        f"{STORED}/input_items",
        method="GET",
        statuses=frozenset({404}),
    ),
)
# A store is needed to say "no such stored response"; the other rows need the endpoint only.
NEEDS_STORE = {"responses-get-unknown", "responses-delete-unknown", "responses-input-items-unknown"}
# OpenAI runs its hosted tools; a local server declines them. Only the strict profile asks that
# the refusal be a 400 naming the tool (a silently ignored web search misleads the caller).
HOSTED = Row(
    "responses-hosted-tool",
    r.PATH,
    _body(tools=[{"type": "web_search"}]),
    strict_statuses=frozenset({400}),
    strict_rule=HOSTED_TOOL,
    strict_param="tools[0].type",
)


def _params() -> list:
    rows = [*ROWS, HOSTED]
    return [pytest.param(row, id=row.id, marks=[pytest.mark.preset(row.preset)]) for row in rows]


@pytest.mark.parametrize("row", _params())
def test_responses_error_row(
    row: Row,
    client: ApiClient,
    settings: Settings,
    model: str,
    embedding_model: str,
    caps: Capabilities,
) -> None:
    caps.need("responses")
    if row.id in NEEDS_STORE:
        caps.need("responses_store")
    if row is HOSTED and not settings.strict:
        pytest.skip("OpenAI serves hosted tools; declining them is a strict-profile rule")
    if isinstance(row.body, bytes) or row.body is None:
        content = row.body
    else:
        content = json.dumps(fill(row.body, model, embedding_model)).encode()
    headers = {"Content-Type": "application/json"} if content is not None else {}
    exchange = client.request(row.method, row.path, content=content, headers=headers)
    if row is HOSTED:  # strict only: what OpenAI answers differs, so the status is strict's rule
        ensure(
            exchange.status == 400,
            HOSTED_TOOL,
            f"a hosted tool must be declined with 400, got {exchange.status}",
            exchange,
        )
    expect_error_row(exchange, row, settings.profile)


@pytest.mark.parametrize("key", ["missing", "wrong"])
def test_responses_auth_required(
    key: str, client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    if not settings.api_key:
        pytest.skip("authentication checks need --api-key (the server then must demand it)")
    caps.need("responses")
    headers = {"Authorization": "Bearer inferno-wrong-key"} if key == "wrong" else {}
    exchange = client.request("POST", r.PATH, json_body=r.body(model), headers=headers, auth=False)
    expect_auth_refused(exchange, key, settings.profile)
