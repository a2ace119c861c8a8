"""GET /v1/models and /v1/models/{id}, on the default server and on one with two models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferno.launcher import reference_server_process
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    MODEL,
    chat_body,
    client,
    error_body,
    json_body,
)

SLASHED_ID = "inferno/beta"  # real model ids often carry an organisation prefix


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    config: Path = tmp_path_factory.mktemp("config") / "models.yaml"
    config.write_text(
        "models:\n"
        "  - id: alpha\n"
        "    path: tiny\n"
        f"  - id: {SLASHED_ID}\n"
        "    path: tiny\n"
        "    owned_by: someone-else\n",
        encoding="utf-8",
    )
    with (
        reference_server_process(["--config", str(config)]) as server,
        client(server.base_url) as c,
    ):
        yield c


def test_list_models_names_the_served_model(http: httpx.Client) -> None:
    body = json_body(http.get("/v1/models"), "listModels")
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == [MODEL]
    model = body["data"][0]
    assert model["object"] == "model"
    assert isinstance(model["created"], int) and model["created"] > 1_600_000_000
    assert isinstance(model["owned_by"], str) and model["owned_by"]


def test_retrieve_model_matches_the_list_entry(http: httpx.Client) -> None:
    listed = json_body(http.get("/v1/models"), "listModels")["data"][0]
    body = json_body(http.get(f"/v1/models/{MODEL}"), "retrieveModel")
    assert body == listed


@pytest.mark.parametrize("name", ["no-such-model", "org/no-such-model"])
def test_retrieve_unknown_model_is_404_model_not_found(http: httpx.Client, name: str) -> None:
    response = http.get(f"/v1/models/{name}")
    error_body(response, 404, "retrieveModel", code="model_not_found", param="model")


def test_config_file_serves_every_model(two_models: httpx.Client) -> None:
    body = json_body(two_models.get("/v1/models"), "listModels")
    by_id = {m["id"]: m for m in body["data"]}
    assert set(by_id) == {"alpha", SLASHED_ID}
    assert by_id[SLASHED_ID]["owned_by"] == "someone-else"
    for model_id, listed in by_id.items():
        assert json_body(two_models.get(f"/v1/models/{model_id}"), "retrieveModel") == listed


@pytest.mark.parametrize("model_id", ["alpha", SLASHED_ID])
def test_each_configured_model_answers_under_its_own_id(
    two_models: httpx.Client, model_id: str
) -> None:
    chat = json_body(
        two_models.post(CHAT, json=chat_body(model=model_id, max_tokens=3)),
        "createChatCompletion",
    )
    assert chat["model"] == model_id
    completion = json_body(
        two_models.post(COMPLETIONS, json={"model": model_id, "prompt": "Hi", "max_tokens": 3}),
        "createCompletion",
    )
    assert completion["model"] == model_id


def test_config_server_still_rejects_the_default_id(two_models: httpx.Client) -> None:
    response = two_models.post(CHAT, json=chat_body(model=MODEL))
    error_body(response, 404, "createChatCompletion", code="model_not_found", param="model")
