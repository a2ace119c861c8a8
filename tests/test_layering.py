"""Dependencies point one way: a forbidden import anywhere in a part fails the build.

- `specs` (the contract) depends on no other part; every part may use it.
- The reference server stands alone: none of the harness, nor the openai SDK.
- The suite and the load profiles are black boxes: they reach a server over HTTP only.
- `inferno` (shared client-side plumbing and the demo) drives the other parts through their
  commands, never by importing them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = {"compliance", "loadtests", "benchmarks", "tests", "inferno", "postman"}
FORBIDDEN: dict[str, set[str]] = {
    "specs": HARNESS | {"reference_server"},
    "reference_server": HARNESS | {"openai"},
    "compliance": {"reference_server", "loadtests", "benchmarks", "tests", "postman"},
    "loadtests": {"reference_server", "compliance", "benchmarks", "tests", "postman"},
    "postman": {"reference_server", "compliance", "loadtests", "benchmarks", "tests"},
    "inferno": {"reference_server", "compliance", "loadtests", "benchmarks", "tests", "postman"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import in a file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_forbidden_import(part: str) -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / part).rglob("*.py"))
        for line, module in _imports(path)
        if module in FORBIDDEN[part]
    ]
    assert not offences, "\n".join(offences)


def test_load_profiles_are_a_package_with_relative_imports() -> None:
    package = ROOT / "loadtests"
    own_modules = {p.stem for p in package.glob("*.py")}
    offences = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "sys.path" in text:
            offences.append(f"{path.name} edits sys.path")
        offences += [
            f"{path.name}:{line} imports its sibling {module} as a top-level module"
            for line, module in _imports(path)
            if module in own_modules
        ]
    assert not offences, "\n".join(offences)


def test_the_harness_core_imports_nothing_heavy() -> None:
    """What the core install runs (suite, spec, plumbing) loads no server or load-test stack."""
    code = (
        "import sys, specs, inferno.sse, inferno.launcher, inferno.urls, compliance.plugin, "
        "compliance._checks, compliance._fuzz, postman.generate\n"
        "heavy = sorted(m for m in ('sanic', 'llama_cpp', 'locust', 'gevent', 'numpy') "
        "if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"the core imports {proc.stdout.strip()}"
