"""Engine faults, injected through the scripted test engine behind the engine boundary.

A decode (or sampler) failure mid-stream gives one error event and no `[DONE]`, and the server
serves the next request; a model that fails to load answers `/health` 503 for it while the other
models serve; the engine thread itself failing answers everything it held and restarts, or
stops the process once it failed too often. These properties are the fault-injection tests of
the reference server (`tests/reference_server/`, real server processes over
`_scripted_backend.py`): this section runs exactly those tests and reports each one's outcome,
then measures the engine's death and restart (`_engine_death.py`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _engine_death
from ._plan import Plan

ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "tests/reference_server/test_failures.py::"
    "test_inference_failure_mid_stream_ends_the_stream_with_an_error_event",
    "tests/reference_server/test_responses_failures.py::"
    "test_failure_mid_stream_ends_with_response_failed",
    "tests/reference_server/test_api_ops.py::test_health_is_503_while_a_model_is_not_ready",
    "tests/reference_server/test_api_ops.py::test_other_models_keep_serving_beside_a_broken_one",
    "tests/reference_server/test_batching.py::test_a_failing_sequence_fails_only_its_request",
    "tests/reference_server/test_engine_death.py",
)
TIMEOUT_S = 600


def run(plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inferno-engine-faults-") as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            f"--junitxml={junit}", *CHECKS,
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
            code, tail = proc.returncode, proc.stdout[-1500:]
        except subprocess.TimeoutExpired:
            code, tail = None, f"the fault tests did not finish in {TIMEOUT_S} s"
        tests = _outcomes(junit) if junit.exists() else []
    passed = sum(t["outcome"] == "passed" for t in tests)
    log(f"engine faults: {passed}/{len(tests)} checks pass")
    try:
        death: dict[str, Any] = _engine_death.measure()
    except Exception as exc:  # a measurement that broke is reported, not a crashed run
        death = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"engine death: {death}")
    return {
        "measured": True,
        "command": "pytest " + " ".join(CHECKS),
        "exit_code": code,
        "tests": tests,
        "all_passed": code == 0 and bool(tests) and passed == len(tests),
        "seconds": round(time.monotonic() - started, 1),
        "output_tail": "" if code == 0 else tail,
        "death": death,
        "death_holds": _engine_death.holds(death),
    }


def _outcomes(junit: Path) -> list[dict[str, str]]:
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "skipped" if child.tag == "skipped" else "failed"
        found.append({"test": case.get("name", ""), "outcome": outcome})
    return found
