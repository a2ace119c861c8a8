"""The pytest plugin of the compliance suite: options, presets, markers, baseline and report.

Active only in runs of the suite: the ``pytest11`` entry point (``compliance._entry``) registers it
when the command line names the suite, and ``compliance/conftest.py`` does when the folder is
collected from a checkout. ``-p compliance.plugin`` forces it. Every hook acts only on the suite's
own tests; the fixtures live in ``compliance/conftest.py`` so that no other folder sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compliance import _baseline, _report
from compliance._endpoints import WATCH as ENDPOINTS
from compliance._failure import ComplianceFailure, begin_soft, end_soft, exercised, start_check
from compliance._options import PRESETS, Settings, add_options
from compliance._outcome import Inconclusive, settle
from compliance._shed import SHED
from inferno import safe_report

_SETTINGS_KEY = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser, pluginmanager)


def register_markers(config: pytest.Config) -> None:
    """Declares the suite's markers (also for runs that import its modules without the plugin)."""
    config.addinivalue_line(
        "markers", "preset(name): smallest preset (core|extended|full) that runs this test"
    )
    config.addinivalue_line("markers", "feature(name): optional server feature the test needs")
    config.addinivalue_line("markers", "clients_area: runs in preset full or with --clients")


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    safe_report.register(config.pluginmanager)  # a failure pytest cannot render is still reported
    settings = Settings.from_config(config)
    config.stash[_SETTINGS_KEY] = settings
    if settings.errors:
        raise pytest.UsageError("; ".join(settings.errors))
    if settings.base_url:  # each process (xdist worker) watches and budgets its own exchanges
        ENDPOINTS.enabled = True
        SHED.configure(settings.shed_retries, settings.shed_wait)
    # Only the controller (not xdist workers) aggregates results and writes files.
    if not hasattr(config, "workerinput"):
        known = _baseline.load(settings.baseline) if settings.baseline else _baseline.Baseline()
        config.pluginmanager.register(_report.Collector(settings, known), "inferno-report")


def pytest_unconfigure(config: pytest.Config) -> None:
    # A session run in-process (pytester) must not leave the watch on for the host session.
    ENDPOINTS.enabled = False


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[_SETTINGS_KEY]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = settings_of(config)
    mine = [i for i in items if _is_compliance_item(i)]
    for item in mine:
        # Travels with every report (to the xdist controller too): how the report knows its tests,
        # whatever the node ids look like (they depend on the rootdir).
        item.user_properties.append((_report.SUITE_PROPERTY, True))
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
        if settings.clients and item.get_closest_marker("clients_area"):
            needed = 0
        (selected if needed <= level else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


_HERE = Path(__file__).resolve().parent


def _is_compliance_item(item: pytest.Item) -> bool:
    # Only our own tests: this conftest may share a session with unrelated test directories.
    return Path(item.path).resolve().parent == _HERE


def pytest_runtest_setup(item: pytest.Item) -> None:
    start_check()
    SHED.start_check()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Soft failures (schema, envelope) let the check go on; its verdict is settled here."""
    if not _is_compliance_item(item):
        return (yield)
    begin_soft()
    try:
        result = yield
    except (KeyboardInterrupt, SystemExit):
        end_soft()
        raise
    except BaseException as exc:
        settle(end_soft(), exc, SHED.in_check())
        raise  # settle raises whatever it does not replace
    settle(end_soft(), None, SHED.in_check())
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if not _is_compliance_item(item):
        return report
    if call.when == "call":
        report.user_properties.append(("inferno_rules", exercised()))
    if call.excinfo is not None and isinstance(call.excinfo.value, Inconclusive):
        report.user_properties.append(("inferno_inconclusive", call.excinfo.value.shed))
        return report
    if call.excinfo is not None and isinstance(call.excinfo.value, ComplianceFailure):
        failure = call.excinfo.value
        for key, value in failure.details().items():
            report.user_properties.append((f"inferno_{key}", value))
        if failure.also:
            every = [failure, *failure.also]
            report.user_properties.append(("inferno_deviations", [f.details() for f in every]))
    settings = settings_of(item.config)
    if report.failed and settings.baseline and not settings.update_baseline:
        failure = call.excinfo.value if call.excinfo is not None else None
        found = [failure, *failure.also] if isinstance(failure, ComplianceFailure) else [None]
        known = _baseline.cached(settings.baseline)
        # Known only if every deviation the check met is: a new one beside a known one fails.
        reasons = [
            known.known(_baseline.key(item.nodeid), f.rule.id if f is not None else None)
            for f in found
        ]
        reason = reasons[0] if all(r is not None for r in reasons) else None
        if reason is not None:
            # Reported as an expected failure: visible, but does not fail the run.
            report.outcome = "skipped"
            report.wasxfail = f"known failure (baseline): {reason}"
    return report
