"""Models: list and retrieve shapes; an unknown model id is a 404."""

from __future__ import annotations

from urllib.parse import quote

from compliance._checks import chat_body, expect_error, expect_ok
from compliance._client import ApiClient
from compliance._failure import ensure

UNKNOWN_MODEL = "inferno-no-such-model-7f3a"


def test_list_models(client: ApiClient, profile: str) -> None:
    exchange = client.get("/models")
    body = expect_ok(exchange, "listModels", profile, "models.list")
    ensure(body.get("object") == "list", "models.list.object", "object must be 'list'", exchange)
    ids = [m.get("id") for m in body["data"]]
    ensure(ids, "models.list.empty", "GET /models lists no model", exchange)
    ensure(len(set(ids)) == len(ids), "models.list.unique", f"duplicate ids: {ids}", exchange)
    for entry in body["data"]:
        ensure(
            entry.get("object") == "model", "models.list.item", "object must be 'model'", exchange
        )


def test_retrieve_model(client: ApiClient, profile: str, model: str) -> None:
    exchange = client.get(f"/models/{quote(model, safe='')}")
    body = expect_ok(exchange, "retrieveModel", profile, "models.retrieve")
    ensure(
        body.get("id") == model,
        "models.retrieve.id",
        f"retrieved id {body.get('id')!r} != requested {model!r}",
        exchange,
    )
    ensure(
        body.get("object") == "model", "models.retrieve.object", "object must be 'model'", exchange
    )


def test_retrieve_unknown_model_is_404(client: ApiClient, profile: str) -> None:
    exchange = client.get(f"/models/{UNKNOWN_MODEL}")
    expect_error(exchange, {404}, profile, "models.retrieve.unknown")


def test_chat_with_unknown_model_is_404(client: ApiClient, profile: str) -> None:
    exchange = client.post("/chat/completions", chat_body(UNKNOWN_MODEL, max_tokens=1))
    code = "model_not_found" if profile == "strict" else None
    expect_error(exchange, {404}, profile, "chat.unknown-model", code=code)
