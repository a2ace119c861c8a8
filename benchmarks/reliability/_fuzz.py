"""Fuzz volume: schemathesis, positive and negative, over every operation of the spec.

Cases are generated with the suite's schema and clamps (`compliance._fuzz`) and checked with
its checks plus one more: every error answer is the OpenAI envelope. Nothing stops at the first
failure: every case runs and every failure is counted. The seed makes the run reproducible.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from jsonschema.exceptions import best_match
from schemathesis import GenerationMode

import specs
from compliance import _fuzz

MODEL = "inferno-tiny"
PROFILE = "strict"  # the reference server's own contract (OpenAI's, plus its stated limits)
MODES = ("positive", "negative")
REQUEST_TIMEOUT_S = 60.0
MAX_ROUNDS = 12  # rounds of generation until the target is met (small spaces run dry)


def new_seed() -> int:
    return random.SystemRandom().randrange(2**32)


def run(base_url: str, target: int, run_seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    """At least `target` cases (if the spaces allow), spread over operations and modes."""
    operations = [op.operation_id for op in specs.operations()]
    pairs = [(op, mode) for op in operations for mode in MODES]
    stats = {f"{op} {mode}": _Tally() for op, mode in pairs}
    total = 0
    for round_number in range(MAX_ROUNDS):
        # The shortfall goes to the pairs that gave all they were asked for last round; when
        # every pair ran dry, to every pair that gave any (a new seed finds new cases).
        open_pairs = [p for p in pairs if not stats[f"{p[0]} {p[1]}"].exhausted] or [
            p for p in pairs if stats[f"{p[0]} {p[1]}"].cases
        ]
        per_pair = math.ceil((target - total) / len(open_pairs))
        for index, (op, mode) in enumerate(pairs):
            if (op, mode) not in open_pairs:
                continue
            pair_seed = (run_seed + 7919 * round_number + index) % 2**32
            tally = stats[f"{op} {mode}"]
            _generate(base_url, op, mode, per_pair, pair_seed, tally)
        total = sum(t.cases for t in stats.values())
        log(f"fuzz round {round_number + 1}: {total} cases so far")
        if total >= target:
            break
    failures: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for tally in stats.values():
        failures.update(tally.failures)
        statuses.update(tally.statuses)
    return {
        "seed": run_seed,
        "profile": PROFILE,
        "cases": total,
        "operations": operations,
        "per_operation": {name: t.as_dict() for name, t in stats.items()},
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "outside_envelope": failures.get("error body outside the envelope", 0),
        "schema_violations": sum(n for f, n in failures.items() if "schema" in f.lower()),
        "failures": dict(failures.most_common()),
        "examples": [e for t in stats.values() for e in t.examples][:10],
    }


class _Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: list[str] = []
        self.exhausted = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "statuses": dict(sorted(self.statuses.items())),
            "failures": dict(self.failures),
            "space_exhausted": self.exhausted,
        }


def _generate(
    base_url: str, operation_id: str, mode: str, examples: int, pair_seed: int, tally: _Tally
) -> None:
    if examples <= 0:
        return
    op = specs.operation(operation_id)
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    strategy = _fuzz.schema(PROFILE)[op.path][op.method].as_strategy(generation_mode=generation)

    @seed(pair_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case: Any) -> None:
        _check(_fuzz.cheapen(case, MODEL), base_url, tally)

    before = tally.cases
    with contextlib.suppress(Unsatisfiable):
        one()
    # Hypothesis stops early once a small space is covered: the pair is exhausted.
    tally.exhausted = tally.cases - before < examples


def _check(case: Any, base_url: str, tally: _Tally) -> None:
    tally.cases += 1
    try:
        response = case.call(base_url=base_url, timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:  # a transport failure is a finding, counted like one
        tally.failures[f"no response ({type(exc).__name__})"] += 1
        return
    tally.statuses[str(response.status_code)] += 1
    found = _envelope_problem(response)
    try:
        case.validate_response(response, checks=_fuzz.checks())
    except BaseExceptionGroup as group:
        found += [_title(e) for e in group.exceptions]
    except Exception as exc:
        found.append(_title(exc))
    for title in found:
        tally.failures[title] += 1
    if found and len(tally.examples) < 3:
        tally.examples.append(f"{'; '.join(found)}: {case.as_curl_command(base_url=base_url)}")


def _title(exc: BaseException) -> str:
    return str(getattr(exc, "title", None) or type(exc).__name__)


def _envelope_problem(response: Any) -> list[str]:
    if response.status_code < 400:
        return []
    try:
        body = response.json()
    except ValueError:
        return ["error body outside the envelope"]
    if best_match(specs.error_validator().iter_errors(body)) is not None:
        return ["error body outside the envelope"]
    return []
