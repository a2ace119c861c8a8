"""The suite's fixtures (visible to its own tests only), and the plugin for checkout runs.

``pytest compliance`` from a checkout may run without the installed entry point: registering the
plugin here still works, because pytest_addoption and pytest_configure are historic hooks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compliance import _entry
from compliance import plugin as _plugin
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ComplianceFailure
from compliance._options import Settings


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    _entry.activate(pluginmanager)


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    return _plugin.settings_of(request.config)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[ApiClient]:
    assert settings.base_url
    api = ApiClient(settings.base_url, settings.api_key, settings.request_timeout)
    yield api
    api.close()


@pytest.fixture(scope="session")
def model_ids(client: ApiClient) -> list[str]:
    exchange = client.get("/models")
    if exchange.status != 200:
        return []
    try:
        return [m["id"] for m in exchange.json()["data"] if isinstance(m.get("id"), str)]
    except (ComplianceFailure, KeyError, TypeError, AttributeError):
        return []


@pytest.fixture(scope="session")
def model(settings: Settings, model_ids: list[str]) -> str:
    if settings.model:
        return settings.model
    if not model_ids:
        pytest.fail("[models.discover] GET /models listed no model and --model was not given")
    chat = [m for m in model_ids if "embed" not in m.lower()]
    return (chat or model_ids)[0]


@pytest.fixture(scope="session")
def embedding_model(settings: Settings, model_ids: list[str], model: str) -> str:
    if settings.embedding_model:
        return settings.embedding_model
    embed = [m for m in model_ids if "embed" in m.lower()]
    return embed[0] if embed else model


@pytest.fixture(scope="session")
def caps(settings: Settings, client: ApiClient, model: str, embedding_model: str) -> Capabilities:
    return Capabilities(client, model, embedding_model, settings.require)


@pytest.fixture(scope="session")
def profile(settings: Settings) -> str:
    return settings.profile
