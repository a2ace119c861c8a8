"""The rule registry: ids declared once with a severity, undeclared ids refused, the documented
table in step with the code, and root causes grouped into deviations."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from compliance import _verdict, rules
from compliance._failure import ComplianceFailure, ensure

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "compliance"
DOC = ROOT / "docs" / "compliance.md"
BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"
# Importing the suite's modules outside a suite run: its markers are not registered here.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")
NAMING = {"ensure", "fail", "ComplianceFailure", "get", "expect_error_field"}


def test_every_rule_has_a_severity_and_a_reason() -> None:
    found = rules.load_all()
    assert len(found) > 60
    for rule in found:
        assert rule.severity in rules.Severity, rule
        assert rule.reason and "\n" not in rule.reason, rule
    assert {r.severity for r in found} == set(rules.Severity)


def test_a_second_declaration_of_an_id_is_an_error() -> None:
    rules.load_all()
    try:
        rules.declare("chat.stop-was-never-this", rules.CONTRACT, "first")
        with pytest.raises(rules.DuplicateRule, match="already declared"):
            rules.declare("chat.stop-was-never-this", rules.STRICT, "second")
    finally:
        rules._REGISTRY.pop("chat.stop-was-never-this", None)


def test_an_undeclared_id_fails_when_the_module_is_imported(tmp_path: Path) -> None:
    module = tmp_path / "uses_a_typo.py"
    module.write_text(
        "from compliance.rules import get\nSTOP = get('stop.honourd')\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import uses_a_typo"],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and "UndeclaredRule" in proc.stderr, proc.stderr


def test_a_bare_undeclared_id_is_refused_at_run_time_too() -> None:
    with pytest.raises(rules.UndeclaredRule):
        ensure(False, "chat.no-such-rule", "boom")
    with pytest.raises(ComplianceFailure):
        ensure(False, "http.status", "a declared id given as a string still works")


def _literal_ids() -> list[tuple[str, int, str]]:
    """String ids written straight into calls that name a rule, in every module of the suite."""
    found = []
    for path in sorted(SUITE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in NAMING:
                continue
            for arg in node.args[:2]:
                value = arg.value if isinstance(arg, ast.Constant) else None
                if isinstance(value, str) and "." in value and " " not in value:
                    found.append((path.name, node.lineno, value))
    return found


def test_no_module_names_an_undeclared_id() -> None:
    declared = {r.id for r in rules.load_all()}
    unknown = [entry for entry in _literal_ids() if entry[2] not in declared]
    assert not unknown, f"undeclared rule ids: {unknown}"


def test_the_documented_table_lists_every_rule() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    expected = rules.markdown_table().strip()
    assert documented == expected, (
        "docs/compliance.md is out of date: regenerate the table with `python -m compliance.rules`"
    )


def _result(test_id: str, rule: str, cause: str, outcome: str = "failed") -> dict:
    details = {"rule": rule, "cause": cause, "message": "m", "rules": [rule, "http.status"]}
    return {"test_id": test_id, "outcome": outcome, "reason": "r", "details": details}


def test_one_root_cause_is_one_deviation_and_weighs_once() -> None:
    refusal = "createChatCompletion $.choices[*].message: 'refusal' is a required property"
    results = [_result(f"test_chat.py::t{i}", "schema.body", refusal) for i in range(9)] + [
        _result("test_tools.py::cut", "chat.tools.cut-by-limit", "chat.tools.cut-by-limit"),
        _result("test_models.py::ok", "models.list", "", outcome="passed"),
    ]
    found = _verdict.deviations(results, "http://x/v1")
    assert [(d["rule"], len(d["checks"])) for d in found] == [
        ("chat.tools.cut-by-limit", 1),  # breaks-clients sorts first
        ("schema.body", 9),
    ]
    assert found[0]["clients"] and found[1]["severity"] == "contract"
    score = _verdict.score(results, found)
    # Rules exercised: schema.body (2), http.status (3), cut-by-limit (3), models.list (3).
    assert score["rules_exercised"] == 4 and score["rules_broken"] == 2
    assert score["weighted_score"] == round(100 * 6 / 11, 1)
    assert score["checks_passed"] == 1 and score["checks_applicable"] == 11
    assert score["deviations_by_severity"] == {"breaks-clients": 1, "contract": 1, "strict": 0}


def test_every_failure_has_a_reproduction() -> None:
    with_curl = {**_result("test_a.py::t", "http.status", "x"), "details": {"curl": "curl -X"}}
    without = _result("test_sdk.py::test_sdk_chat[stream]", "sdk.chat", "sdk.chat")
    assert _verdict.reproduce(with_curl, None) == "curl -X"
    command = _verdict.reproduce(without, "http://h:1/v1")
    assert command.startswith("pytest --pyargs compliance --base-url http://h:1/v1 -k")
    assert "'test_sdk_chat and stream'" in command
