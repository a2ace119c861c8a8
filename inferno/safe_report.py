"""A pytest plugin: whatever a test raises, its report is written and the run ends normally.

pytest renders a failure by parsing the source file of every frame in the traceback. That
parse can itself fail on code nobody here wrote (a deeply nested expression gives a
MemoryError or RecursionError; CPython 3.11 has raised `SystemError: AST constructor
recursion depth mismatch` on a dependency's file), and pytest then stops the whole run with
INTERNALERROR and exit code 3: every later test is lost and CI sees a crash instead of a
failure. This plugin catches that, reports the test as failed with a plain traceback (one line
of source per frame, no parsing) and a note saying why, so the run goes on and ends with its
summary and exit code 1.

Both the compliance suite's plugin and our own tests register it.
"""

from __future__ import annotations

import traceback
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["PLUGIN_NAME", "plain_traceback", "register"]

PLUGIN_NAME = "inferno-safe-report"
# A generated or minified line can be megabytes: the report keeps the start of each line.
MAX_LINE_CHARS = 500
MAX_FRAMES = 60


def register(pluginmanager: pytest.PytestPluginManager) -> None:
    """Registers this plugin once, whoever asks first."""
    import inferno.safe_report as plugin

    if not pluginmanager.is_registered(plugin) and not pluginmanager.has_plugin(PLUGIN_NAME):
        pluginmanager.register(plugin, PLUGIN_NAME)


def plain_traceback(exc: BaseException) -> str:
    """The traceback as Python prints it, each line cut at MAX_LINE_CHARS, at most MAX_FRAMES
    frames; it never parses source files."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-MAX_FRAMES)
    out = []
    for chunk in lines:
        for line in chunk.splitlines():
            if len(line) > MAX_LINE_CHARS:
                line = f"{line[:MAX_LINE_CHARS]}... [{len(line) - MAX_LINE_CHARS} more chars]"
            out.append(line)
    return "\n".join(out)


# Innermost (trylast): other plugins' wrappers, the suite's report among them, get a report.
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    try:
        return (yield)
    except Exception as crash:  # the failure could not be rendered: report it plainly
        return _plain_report(item, call, crash)


def _plain_report(item: pytest.Item, call: pytest.CallInfo[None], crash: Exception) -> Any:
    note = (
        f"pytest could not render this failure ({type(crash).__name__}: {crash}); "
        "the plain traceback follows"
    )
    failure = call.excinfo.value if call.excinfo is not None else crash
    return pytest.TestReport(
        nodeid=item.nodeid,
        location=item.location,
        keywords=dict.fromkeys(item.keywords, 1),
        outcome="failed",
        longrepr=f"{note}\n\n{plain_traceback(failure)}",
        when=call.when,
        duration=call.duration,
        start=call.start,
        stop=call.stop,
        user_properties=list(item.user_properties),
    )
