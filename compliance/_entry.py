"""The `pytest11` entry point: activates the suite's plugin only for runs of the suite.

Installing the package must change nothing in an unrelated pytest run: no options, fixtures or
markers. pytest loads this tiny module in every run, so it only looks at the command line and
registers `compliance.plugin` when the run names the suite (`pytest compliance …`,
`pytest --pyargs compliance …`, a file or node id inside it). It has to act before the command
line is parsed, because the suite's options (`--base-url`, …) must be known by then.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import pytest

PACKAGE = "compliance"
PLUGIN_NAME = "inferno-compliance"
_HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    if runs_the_suite(args, early_config.invocation_params.dir):
        activate(early_config.pluginmanager)


def activate(pluginmanager: pytest.PytestPluginManager) -> None:
    """Registers the plugin once; its historic hooks (addoption, configure) still run."""
    from compliance import plugin

    if not pluginmanager.is_registered(plugin) and not pluginmanager.has_plugin(PLUGIN_NAME):
        pluginmanager.register(plugin, PLUGIN_NAME)


def runs_the_suite(args: Sequence[str], invocation_dir: Path) -> bool:
    """Whether a positional argument names this package, as a path or (with --pyargs) a module."""
    pyargs = "--pyargs" in args
    for arg in args:
        if arg.startswith("-"):
            continue
        target = arg.split("::", 1)[0]
        if pyargs and _names_the_package(target):
            return True
        if _inside_the_package(invocation_dir / target):
            return True
    return False


def _names_the_package(module: str) -> bool:
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return False
    spec = importlib.util.find_spec(PACKAGE)
    locations = spec.submodule_search_locations if spec else None
    return any(Path(p).resolve() == _HERE for p in locations or ())


def _inside_the_package(path: Path) -> bool:
    # Any argument may be tried as a path (a -k expression too): one the OS cannot even look up
    # (a name over its length limit) names no file of the package, and must not end the run.
    try:
        resolved = path.resolve()
        return resolved.exists() and (resolved == _HERE or _HERE in resolved.parents)
    except OSError:
        return False
