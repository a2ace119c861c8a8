"""A failure pytest cannot render still ends in a normal report and exit code 1."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from inferno.safe_report import MAX_LINE_CHARS, plain_traceback

# The failing frame's source file holds one expression nested deeper than `ast.parse` can
# follow, while the code that runs is compiled from a harmless copy: pytest then fails while
# rendering the frame (as it did on a dependency's file), not while importing the test.
DEEP_SOURCE = "def boom():\n    return " + "-" * 100_000 + "None\n"
FAILING_TEST = """
from pathlib import Path

DEEP = Path(__file__).with_name("generated_deep.py")


def test_renders_a_frame_with_a_deeply_nested_expression():
    code = compile("def boom():\\n    return -None\\n", str(DEEP), "exec")
    namespace = {}
    exec(code, namespace)
    namespace["boom"]()


def test_after_it_still_runs():
    assert True
"""


def test_the_deep_source_defeats_the_parser() -> None:
    # The premise of the tests below: this source cannot be parsed into an AST.
    with pytest.raises((MemoryError, RecursionError, SystemError)):
        ast.parse(DEEP_SOURCE)


def _run_pytest(folder: Path, *plugin_args: str) -> subprocess.CompletedProcess[str]:
    (folder / "generated_deep.py").write_text(DEEP_SOURCE)
    (folder / "test_deep_frame.py").write_text(FAILING_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *plugin_args,
         "test_deep_frame.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def _assert_reported_normally(run: subprocess.CompletedProcess[str]) -> None:
    output = run.stdout + run.stderr
    assert "INTERNALERROR" not in output, output[-3000:]
    assert run.returncode == 1, output[-3000:]
    assert "1 failed, 1 passed" in run.stdout.splitlines()[-1], output[-3000:]
    assert "pytest could not render this failure" in run.stdout
    assert "TypeError: bad operand type for unary -: 'NoneType'" in run.stdout


def test_our_own_tests_report_a_failure_pytest_cannot_render(tmp_path: Path) -> None:
    _assert_reported_normally(_run_pytest(tmp_path, "-p", "inferno.safe_report"))


def test_the_suites_plugin_reports_a_failure_pytest_cannot_render(tmp_path: Path) -> None:
    run = _run_pytest(tmp_path, "-p", "compliance.plugin", "--base-url", "http://127.0.0.1:9/v1")
    _assert_reported_normally(run)


def test_the_plain_traceback_cuts_long_lines() -> None:
    try:
        raise ValueError("x" * 10 * MAX_LINE_CHARS)
    except ValueError as exc:
        text = plain_traceback(exc)
    assert "ValueError: " in text
    assert max(len(line) for line in text.splitlines()) < MAX_LINE_CHARS + 40
    assert "more chars]" in text
