"""Models: list and retrieve shapes; an unknown model id is a 404."""

from __future__ import annotations

from urllib.parse import quote

import specs
from compliance._checks import chat_body, expect_error, expect_error_field, expect_ok
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._shared_rules import LANGCHAIN, LITELLM, SDK, STRICT_CODE
from compliance.rules import BREAKS_CLIENTS, CONTRACT, declare

UNKNOWN_MODEL = "inferno-no-such-model-7f3a"

LIST = declare(
    "models.list",
    BREAKS_CLIENTS,
    "GET /models lists unique ids as {object: list, data: [{object: model, id, ...}]}",
    clients=(SDK, LITELLM),
)
RETRIEVE = declare(
    "models.retrieve", CONTRACT, "GET /models/{id} returns that model (object 'model')"
)
UNKNOWN = declare(
    "models.unknown-404",
    BREAKS_CLIENTS,
    "an unknown model id is a 404, not silently another model (clients raise NotFoundError)",
    clients=(SDK, LANGCHAIN),
)


def test_list_models(client: ApiClient, profile: str) -> None:
    exchange = client.get("/models")
    body = expect_ok(exchange, "listModels", profile)
    ensure(body.get("object") == "list", LIST, "object must be 'list'", exchange)
    ids = [m.get("id") for m in body["data"]]
    ensure(ids, LIST, "GET /models lists no model", exchange)
    ensure(len(set(ids)) == len(ids), LIST, f"duplicate ids: {ids}", exchange)
    for entry in body["data"]:
        ensure(entry.get("object") == "model", LIST, "object must be 'model'", exchange)


def test_retrieve_model(client: ApiClient, profile: str, model: str) -> None:
    exchange = client.get(f"/models/{quote(model, safe='')}")
    body = expect_ok(exchange, "retrieveModel", profile)
    ensure(
        body.get("id") == model,
        RETRIEVE,
        f"retrieved id {body.get('id')!r} != requested {model!r}",
        exchange,
    )
    ensure(body.get("object") == "model", RETRIEVE, "object must be 'model'", exchange)


def test_retrieve_unknown_model_is_404(client: ApiClient, profile: str) -> None:
    exchange = client.get(f"/models/{UNKNOWN_MODEL}")
    _expect_404(exchange, profile)


def test_chat_with_unknown_model_is_404(client: ApiClient, profile: str) -> None:
    exchange = client.post("/chat/completions", chat_body(UNKNOWN_MODEL, max_tokens=1))
    body = _expect_404(exchange, profile)
    if specs.has_profile(profile, "strict"):
        expect_error_field(exchange, body, "code", "model_not_found", STRICT_CODE)


def _expect_404(exchange, profile: str) -> dict:
    if exchange.status == 200:
        # Served by some other model: the check's own rule, not a generic status mismatch.
        ensure(False, UNKNOWN, "an unknown model was answered 200", exchange)
    return expect_error(exchange, {404}, profile)
