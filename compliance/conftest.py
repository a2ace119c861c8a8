"""Loads the suite's plugin when pytest collects this directory (``pytest compliance``)."""

from __future__ import annotations

import pytest

from compliance import plugin as _plugin


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Already loaded through the entry point or -p: registering twice would clash on options.
    # pytest_addoption and pytest_configure are historic hooks, so a late registration still
    # gets both called.
    if not pluginmanager.is_registered(_plugin):
        pluginmanager.register(_plugin, "inferno-compliance")
