"""Known failures by rule: the rules a server is known to break, each with a reason and the tests
where it showed. A known failure is reported but does not fail the run.

A listed rule is known wherever it fails (one deviation often breaks several checks); any other
rule fails the run, in a listed test too. Failures outside the rule registry are listed under
``unclassified`` and known only in the tests listed with it. The older format, test ids with a
reason, still loads: such an entry covers its test, and where its reason is a rule id (what
``--update-baseline`` wrote) only a failure of that rule there. ``--update-baseline`` rewrites a
file in the current format.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

UNCLASSIFIED = "unclassified"
_TEST_ID = re.compile(r"(test_[^/\\:]+\.py::.*)$")
# What a rule id looks like (`chat.tools.arguments`); reasons a person writes do not.
_RULE_ID = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
_DEFAULT_REASON = "listed in baseline"


def key(nodeid: str) -> str:
    """A location-independent test id: the same from a checkout and with --pyargs."""
    match = _TEST_ID.search(nodeid.replace("\\", "/"))
    return match.group(1) if match else nodeid


@dataclass(frozen=True)
class Entry:
    reason: str
    tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    test_id: str
    rule: str | None  # None: outside the rule registry
    message: str


@dataclass(frozen=True)
class Baseline:
    rules: dict[str, Entry] = field(default_factory=dict)
    tests: dict[str, str] = field(default_factory=dict)  # the older format: test id -> reason

    def known(self, test_id: str, rule: str | None) -> str | None:
        """The reason a failure of `rule` in `test_id` is known, or None: it fails the run."""
        entry = self.rules.get(rule or UNCLASSIFIED)
        if entry is not None and (rule is not None or test_id in entry.tests):
            return entry.reason
        reason = self.tests.get(test_id)
        if reason is not None and (reason == rule or not _RULE_ID.fullmatch(reason)):
            return reason
        return None

    def stale(self, results: list[dict[str, Any]]) -> list[str]:
        """Entries that no longer fail: a listed rule the run evaluated without a failure, an
        older entry whose test passed. A rule the run did not reach is not judged."""
        outcome = {r["test_id"]: r["outcome"] for r in results}
        failing, evaluated = set(), set()
        for result in results:
            details = result.get("details") or {}
            evaluated.update(details.get("rules") or [])
            if result["outcome"] in ("failed", "known"):
                failing.add(details.get("rule") or UNCLASSIFIED)
        unclassified = self.rules.get(UNCLASSIFIED, Entry(""))
        if any(test in outcome for test in unclassified.tests):
            evaluated.add(UNCLASSIFIED)
        found = [rule for rule in self.rules if rule in evaluated - failing]
        return sorted(found) + sorted(t for t in self.tests if outcome.get(t) == "passed")

    def reason_for(self, rule: str | None, tests: list[str]) -> str | None:
        """The reason a person gave for this rule, in either format."""
        entry = self.rules.get(rule or UNCLASSIFIED)
        if entry is not None:
            return entry.reason
        written = [self.tests[t] for t in tests if t in self.tests]
        return next((r for r in written if not _RULE_ID.fullmatch(r)), None)


def load(path: str) -> Baseline:
    """Read a baseline (JSON or YAML): {"known_rules": {rule: {"reason", "tests"}}}, or the older
    {"known_failures": {test id: reason}} (a bare mapping or list of test ids too)."""
    file = Path(path)
    if not file.exists():
        return Baseline()
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if isinstance(data, list) or (
        isinstance(data, dict) and not {"known_rules", "known_failures"} & set(data)
    ):
        data = {"known_failures": data}  # the older format: test ids, bare
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of rules (known_rules) or of test ids")
    rules, tests = data.get("known_rules") or {}, data.get("known_failures") or {}
    if isinstance(tests, list):
        tests = dict.fromkeys(map(str, tests), _DEFAULT_REASON)
    if not isinstance(rules, dict) or not isinstance(tests, dict):
        raise ValueError(f"{path}: known_rules and known_failures must be mappings")
    return Baseline(
        {str(rule): _entry(value) for rule, value in rules.items()},
        {key(str(test)): str(reason or _DEFAULT_REASON) for test, reason in tests.items()},
    )


def _entry(value: Any) -> Entry:
    if isinstance(value, dict):
        tests = tuple(key(str(t)) for t in value.get("tests") or ())
        return Entry(str(value.get("reason") or _DEFAULT_REASON), tests)
    return Entry(str(value or _DEFAULT_REASON))


@functools.cache
def cached(path: str) -> Baseline:
    return load(path)


def write(path: str, failures: list[Failure], previous: Baseline) -> None:
    """Write the current failures by rule, keeping reasons a person already wrote."""
    tests: dict[str, list[str]] = {}
    messages: dict[str, str] = {}
    for failure in sorted(failures, key=lambda f: f.test_id):
        rule = failure.rule or UNCLASSIFIED
        listed = tests.setdefault(rule, [])
        if failure.test_id not in listed:  # one check can break a rule for two causes
            listed.append(failure.test_id)
        messages.setdefault(rule, failure.message)
    entries = {
        rule: {
            "reason": previous.reason_for(None if rule == UNCLASSIFIED else rule, tests[rule])
            or messages[rule]
            or _DEFAULT_REASON,
            "tests": tests[rule],
        }
        for rule in sorted(tests)
    }
    Path(path).write_text(
        json.dumps({"known_rules": entries}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
