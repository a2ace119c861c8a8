"""The pytest plugin of the compliance suite: options, fixtures, presets, baseline and report.

Loaded by compliance/conftest.py for ``pytest compliance``; for ``pytest --pyargs compliance``
options must be known before conftests load, hence the ``pytest11`` entry point (or
``-p compliance.plugin``). Every hook acts only on the suite's own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compliance import _baseline, _report
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ComplianceFailure
from compliance._options import PRESETS, Settings, add_options

_SETTINGS_KEY = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "preset(name): smallest preset (core|extended|full) that runs this test"
    )
    config.addinivalue_line("markers", "feature(name): optional server feature the test needs")
    settings = Settings.from_config(config)
    config.stash[_SETTINGS_KEY] = settings
    if settings.errors:
        raise pytest.UsageError("; ".join(settings.errors))
    # Only the controller (not xdist workers) aggregates results and writes files.
    if not hasattr(config, "workerinput"):
        known = _baseline.load(settings.baseline) if settings.baseline else {}
        config.pluginmanager.register(_report.Collector(settings, known), "inferno-report")


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[_SETTINGS_KEY]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = settings_of(config)
    mine = [i for i in items if _is_compliance_item(i)]
    if not settings.base_url:
        skip = pytest.mark.skip(
            reason="no server to check: pass --base-url http://HOST:PORT/v1 "
            "(or set INFERNO_BASE_URL) to run the compliance suite"
        )
        for item in mine:
            item.add_marker(skip)
        return
    level = PRESETS.index(settings.preset)
    selected, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("preset")
        needed = PRESETS.index(marker.args[0]) if marker and _is_compliance_item(item) else 0
        (selected if needed <= level else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


_HERE = Path(__file__).resolve().parent


def _is_compliance_item(item: pytest.Item) -> bool:
    # Only our own tests: this conftest may share a session with unrelated test directories.
    return Path(item.path).resolve().parent == _HERE


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, ComplianceFailure):
        for key, value in call.excinfo.value.details().items():
            report.user_properties.append((f"inferno_{key}", value))
    settings = settings_of(item.config)
    if report.failed and settings.baseline and not settings.update_baseline:
        known = _baseline.cached(settings.baseline)
        reason = known.get(_baseline.key(item.nodeid))
        if reason is not None:
            # Reported as an expected failure: visible, but does not fail the run.
            report.outcome = "skipped"
            report.wasxfail = f"known failure (baseline): {reason}"
    return report


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    return settings_of(request.config)


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
