"""The engine thread dying, measured: how long from the failure until every request the engine
held or had queued is answered, how many were lost (never answered), whether the engine
restarted and serves again, and that failing too often stops the process with its exit code.

The failure is injected through the scripted test engine (`CRASH_ENGINE`, see
tests/reference_server/_scripted_backend.py), which also logs when it fired. With two
sequences: a long paced stream and a short one run, the failing request waits behind them with
`QUEUED` more; when the short stream ends, the failing request gets its sequence and the engine
thread fails with the long stream in flight and the others still queued.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

import specs
from reference_server.engine_health import EXIT_ENGINE_FAILED
from tests.reference_server._faulty_server import (
    MODEL_ID,
    chat_body,
    faulty_server,
    iter_sse,
    model_health,
    scrape,
)
from tests.reference_server._scripted_backend import CRASH_ENGINE

CHAT = "/v1/chat/completions"
QUEUED = 3
LIMIT_S = 60.0  # every wait below ends by then
POLL_S = 0.01
RESTARTS = f'inferno_engine_restarts_total{{model="{MODEL_ID}"}}'


def measure() -> dict[str, Any]:
    specs.error_validator()  # compiled now: its first use takes seconds, in the timed part
    with tempfile.TemporaryDirectory(prefix="inferno-engine-death-") as tmp:
        crash_log = Path(tmp) / "crashes"
        faults = {
            "engine_crash": 1,
            "crash_log": crash_log,
            "no_eos": 1,
            "token_delay": 0.02,
            "token_marker": "PACE",
        }
        with faulty_server(["--parallel", "2", "--max-queue", "8"], **faults) as server:
            one = _one_failure(server.base_url, crash_log)
            given_up = _failing_until_exit(server, crash_log)
    return one | {"give_up": given_up}


def _one_failure(base_url: str, crash_log: Path) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=3 + QUEUED) as pool, httpx.Client(timeout=LIMIT_S) as http:
        long = pool.submit(_stream, http, base_url, "PACE a long answer", 2000)
        short = pool.submit(_stream, http, base_url, "PACE a short answer", 25)
        _wait(lambda: model_health(base_url, http)["running"] == 2)
        failing = pool.submit(_post, http, base_url, f"please {CRASH_ENGINE}")
        _wait(lambda: model_health(base_url, http)["queued"] == 1)
        queued = [pool.submit(_post, http, base_url, f"queued {i}") for i in range(QUEUED)]
        answers = [f.result(timeout=LIMIT_S) for f in (long, short, failing, *queued)]
    fault_at = _fault_times(crash_log)[0]
    # Looked at once everything is answered: an upper bound on the time back to serving.
    _wait(lambda: model_health(base_url)["state"] == "ready")
    ready_at = time.monotonic()
    health = model_health(base_url)
    after = httpx.post(base_url + CHAT, json=chat_body("are you there", 3), timeout=LIMIT_S)
    held = [a for a in answers if a["at"] >= fault_at]
    return {
        "requests": len(answers),
        "held_at_fault": len(held),
        "answers": _tally(answers),
        "lost": sum(a["answer"] == "none" for a in answers),
        "not_in_envelope": sum(not a["enveloped"] for a in held if a["answer"] != "complete"),
        "fault_to_all_answered_s": round(max(a["at"] for a in held) - fault_at, 3),
        "fault_to_ready_s": round(ready_at - fault_at, 3),
        "restarts": scrape(base_url).get(RESTARTS),
        "freed": health["running"] == 0 and health["queued"] == 0,
        "next_request_status": after.status_code,
    }


def _failing_until_exit(server: Any, crash_log: Path) -> dict[str, Any]:
    """Fails the engine again and again until the process stops; at most a few more times
    than the engine may restart."""
    statuses = []
    for _ in range(10):
        if server.process.poll() is not None:
            break
        answer = _post(httpx, server.base_url, f"again {CRASH_ENGINE}")["answer"]
        if answer == "none":  # the process is going
            break
        statuses.append(answer)
    try:
        code = server.process.wait(timeout=LIMIT_S)
    except Exception:
        code = None
    exited_at = time.monotonic()
    faults = _fault_times(crash_log)
    return {
        "failures": len(faults),
        "statuses": statuses,
        "exit_code": code,
        "expected_exit_code": EXIT_ENGINE_FAILED,
        "last_fault_to_exit_s": round(exited_at - faults[-1], 3) if faults else None,
    }


def _stream(http: httpx.Client, base_url: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    body = chat_body(prompt, max_tokens, stream=True)
    try:
        with http.stream("POST", base_url + CHAT, json=body) as response:
            data = [i for i in iter_sse(response.iter_lines()) if i.kind == "data"]
    except httpx.HTTPError:
        return {"answer": "none", "at": time.monotonic(), "enveloped": False}
    at = time.monotonic()
    if data and data[-1].text == "[DONE]":
        return {"answer": "complete", "at": at, "enveloped": True}
    last = data[-1].json() if data else {}
    error = "error" in last and not list(specs.error_validator().iter_errors(last))
    return {"answer": "error event" if error else "none", "at": at, "enveloped": error}


def _post(http: Any, base_url: str, prompt: str) -> dict[str, Any]:
    try:
        response = http.post(base_url + CHAT, json=chat_body(prompt, 5), timeout=LIMIT_S)
    except httpx.HTTPError:
        return {"answer": "none", "at": time.monotonic(), "enveloped": False}
    at = time.monotonic()
    body = response.json() if response.headers.get("content-type", "").startswith("app") else {}
    enveloped = "error" in body and not list(specs.error_validator().iter_errors(body))
    return {"answer": str(response.status_code), "at": at, "enveloped": enveloped}


def _tally(answers: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for answer in answers:
        counts[answer["answer"]] = counts.get(answer["answer"], 0) + 1
    return counts


def _fault_times(crash_log: Path) -> list[float]:
    if not crash_log.exists():
        return []
    return [float(line) for line in crash_log.read_text().split()]


def _wait(ready: Any) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {LIMIT_S:g} s")
        time.sleep(POLL_S)


def holds(death: dict[str, Any] | None) -> bool:
    """The figures the issue asks for: nothing lost, everything answered in the envelope, one
    restart, serving again; and failing too often exits with the documented code."""
    if not death or death.get("error"):
        return False
    return (
        death["lost"] == 0
        and death["not_in_envelope"] == 0
        and death["restarts"] == 1
        and death["freed"]
        and death["next_request_status"] == 200
        and death["give_up"]["exit_code"] == death["give_up"]["expected_exit_code"]
    )
