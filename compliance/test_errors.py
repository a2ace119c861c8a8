"""Error mapping: bad requests get the documented status and the OpenAI error envelope."""

from __future__ import annotations

import json

import pytest

from compliance._capabilities import Capabilities
from compliance._checks import expect_auth_refused, expect_error_row
from compliance._client import ApiClient
from compliance._error_table import AUTH_ROUTES, ROWS, Row, fill
from compliance._options import Settings

OVERSIZED_BYTES = 24 * 1024 * 1024


def _params() -> list:
    return [pytest.param(row, id=row.id, marks=[pytest.mark.preset(row.preset)]) for row in ROWS]


@pytest.mark.parametrize("row", _params())
def test_error_row(
    row: Row,
    client: ApiClient,
    settings: Settings,
    model: str,
    embedding_model: str,
    caps: Capabilities,
) -> None:
    if row.feature:
        caps.need(row.feature)
    if row.body == "OVERSIZED":
        text = "lorem ipsum " * (OVERSIZED_BYTES // 12)
        content = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
        body = content.encode()
    elif isinstance(row.body, bytes):
        body = row.body
    elif row.body is None:
        body = None
    else:
        body = json.dumps(fill(row.body, model, embedding_model)).encode()
    headers = dict(row.headers) or (
        {"Content-Type": "application/json"} if body is not None else {}
    )
    exchange = client.request(row.method, row.path, content=body, headers=headers)
    expect_error_row(exchange, row, settings.profile)


@pytest.mark.parametrize("key", ["missing", "wrong"])
@pytest.mark.parametrize(
    "method,path,body",
    [pytest.param(*r, id=r[1].strip("/").replace("/", "-")) for r in AUTH_ROUTES],
)
def test_auth_required(
    key: str,
    method: str,
    path: str,
    body: object,
    client: ApiClient,
    settings: Settings,
    model: str,
    embedding_model: str,
) -> None:
    if not settings.api_key:
        pytest.skip("authentication checks need --api-key (the server then must demand it)")
    headers = {"Authorization": "Bearer inferno-wrong-key"} if key == "wrong" else {}
    exchange = client.request(
        method,
        path,
        json_body=fill(body, model, embedding_model) if body is not None else None,
        headers=headers,
        auth=False,
    )
    expect_auth_refused(exchange, key, settings.profile)
