"""Bad configuration: `python -m reference_server serve` launched as a real process with bad
flags, bad `--config` files and random combinations (`_bad_config_cases.py`), each with a time
limit. Every case must come up and serve, or exit 2 naming the flag (1 for a model file that
cannot load); a crash is a signal exit (llama.cpp aborting), a Python traceback, any other exit
code, or a process that neither serves nor exits in time.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from inferno.launcher import ServerStartError, reference_server_process
from reference_server.cli import API_KEYS_ENV

from ._bad_config_cases import FIXED_CASES, REFUSED, Case, random_cases
from ._markdown import cell
from ._plan import Plan

STARTUP_S = 60.0  # a case that has neither served nor exited by then hangs
AT_ONCE = 2
OUTPUT_CHARS = 200_000  # of a case's output, enough to hold any traceback whole
SERVED = "served"
PROG_ERROR = "python -m reference_server serve: error: "
# The last line of a refusal: argparse's ("…serve: error: argument --n-batch: …"), or the
# server's own for what only fails when it listens ("error: argument --host/--port: …").
_NAMED = re.compile(r"error: (?:argument (\S+?)|environment variable (\S+?)):")


def last_error(output: str) -> str:
    """The server's last error line (argparse's, or its own `error: …`), else the last line;
    not a log line that only names a logger (`sanic.error: …`)."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if line.startswith(("error: ", PROG_ERROR))]
    return (errors or lines or [""])[-1]


def named_flag(output: str) -> str | None:
    """The flag (or environment variable) an exit-2 message blames, from its last error line."""
    match = _NAMED.search(last_error(output))
    return None if match is None else (match.group(1) or match.group(2))


def names_a_given_flag(named: str | None, case: Case) -> bool:
    """Whether the blamed flag is one the case set (`--host/--port` names two)."""
    given = {arg.split("=")[0] for arg in case.argv if arg.startswith("--")} | set(case.env)
    return named is not None and any(part in given for part in named.split("/"))


def crash(outcome: str, output: str) -> str | None:
    """Why a case's end counts as a crash; None when it served or exited 0, 1 or 2."""
    if outcome == "hang":
        return f"neither served nor exited in {STARTUP_S:g} s"
    if outcome.startswith("signal"):
        return f"killed by {outcome}"
    if "Traceback (most recent call last)" in output:
        return "a Python traceback"
    if outcome not in (SERVED, "exit 0", "exit 1", "exit 2"):
        return f"{outcome}: not 0, 1 or 2"
    return None


def try_case(case: Case) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inferno-bad-config-") as tmp:
        for name, content in case.files.items():
            path = Path(tmp) / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        argv = [arg.replace("{dir}", tmp) for arg in case.argv]
        env = {API_KEYS_ENV: ""} | case.env  # the caller's keys must not leak into a case
        outcome, output, serves = _launch(argv, env)
        output = output.replace(tmp, "{dir}")  # the same message on every run
    return judge(case, outcome, output, serves) | {"seconds": round(time.monotonic() - started, 2)}


def judge(case: Case, outcome: str, output: str, serves: bool | None) -> dict[str, Any]:
    """One case's record: how it ended, whether that is a crash, and what a refusal blamed."""
    refused = outcome == f"exit {REFUSED}"
    named = named_flag(output) if refused else None
    return case.to_dict() | {
        "outcome": outcome,
        "serves": serves,
        "crash": crash(outcome, output),
        "named": named,
        "names_flag": names_a_given_flag(named, case) if refused else None,
        "as_expected": None if case.expected is None else outcome == f"exit {case.expected}",
        "message": "" if outcome == SERVED else last_error(output)[:300],
    }


def _launch(argv: list[str], env: dict[str, str]) -> tuple[str, str, bool | None]:
    """(outcome, output, whether a served server answered a request and stayed up)."""
    server = reference_server_process(argv, env=env, startup_timeout=STARTUP_S)
    try:
        try:
            server.start()
        except ServerStartError as exc:
            output = server.log(OUTPUT_CHARS)
            process = server.process
            if not str(exc).startswith("server exited") or process is None:
                return "hang", output, None
            code = process.returncode
            return (f"signal {-code}" if code < 0 else f"exit {code}"), output, None
        serves = _serves(server.base_url) and server.process.poll() is None
        return SERVED, server.log(OUTPUT_CHARS), serves
    finally:
        server.__exit__(None, None, None)  # stops it and removes its log


def _serves(base_url: str) -> bool:
    """One short generation on the first model: a 200, or a 400 for a prompt that does not fit
    a small context window."""
    keys = {"Authorization": "Bearer sk-test"}  # the only good key random cases set
    try:
        with httpx.Client(base_url=base_url, timeout=STARTUP_S, headers=keys) as http:
            model = http.get("/v1/models").json()["data"][0]["id"]
            body = {"model": model, "prompt": "a", "max_tokens": 2, "temperature": 0}
            answer = http.post("/v1/completions", json=body)
            too_long = answer.status_code == 400 and "context_length" in answer.text
            healthy = http.get("/health").status_code == 200
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return False
    return (answer.status_code == 200 or too_long) and healthy


def run(plan: Plan, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    fixed = list(FIXED_CASES[:: plan.bad_config_fixed_every])
    cases = fixed + random_cases(plan.bad_config_random, seed)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        results = list(pool.map(try_case, cases))
    result = summary(results, seed, time.monotonic() - started)
    tally = f"{result['cases']} cases, {result['outcomes']}, {result['crashes']} crashes"
    log(f"bad configuration: {tally}")
    return result


def summary(results: list[dict[str, Any]], seed: int, seconds: float) -> dict[str, Any]:
    refused = [r for r in results if r["names_flag"] is not None]
    fixed = [r for r in results if r["expected"] is not None]
    crashes = [r for r in results if r["crash"]]
    failing = [r for r in results if r["serves"] is False]
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "cases": len(results),
        "fixed": len(fixed),
        "random": len(results) - len(fixed),
        "outcomes": dict(sorted(Counter(r["outcome"] for r in results).items())),
        "crashes": len(crashes),
        "crash_examples": [f"{r['case']}: {r['crash']} ({' '.join(r['argv'])})" for r in crashes][
            :10
        ],
        "refusals": len(refused),
        "refusals_naming_the_flag": sum(r["names_flag"] for r in refused),
        "fixed_as_expected": sum(bool(r["as_expected"]) for r in fixed),
        "served_but_failing": len(failing),
        "results": results,
    }


def holds(section: dict[str, Any]) -> bool:
    return (
        section["cases"] > 0
        and not section["crashes"]
        and section["refusals_naming_the_flag"] == section["refusals"]
        and section["fixed_as_expected"] == section["fixed"]
        and not section["served_but_failing"]
    )


def criterion(section: dict[str, Any]) -> tuple[str, str, bool]:
    return (
        "8 bad configuration: every bad flag or --config file exits 2 naming it (a model file "
        "that cannot load: 1), random combinations serve or exit 2; 0 crashes (signal, "
        "traceback, other exit, hang)",
        f"{section['cases']} cases ({section['fixed']} fixed, {section['random']} random, seed "
        f"{section['seed']}): {_tally(section['outcomes'])}; {section['crashes']} crashes; "
        f"{section['refusals_naming_the_flag']}/{section['refusals']} exit-2 messages name the "
        f"flag; {section['fixed_as_expected']}/{section['fixed']} fixed cases as expected",
        holds(section),
    )


def _arguments(record: dict[str, Any]) -> str:
    """The command line, the environment it changed, and its --config file."""
    env = " ".join(f"{k}='{v}'" for k, v in record["env"].items())
    shown = f"`{' '.join(record['argv'])}`" + (f" with {env}" if env else "")
    return shown + "".join(f"; {name}: `{text}`" for name, text in record["files"].items())


def _message(record: dict[str, Any]) -> str:
    if record["outcome"] == SERVED:
        return "answered a generation" if record["serves"] else "**failed a request**"
    return record["message"].removeprefix(PROG_ERROR)


def _tally(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{name} ×{count}" for name, count in outcomes.items())


def markdown(section: dict[str, Any]) -> list[str]:
    lines = [
        f"`python -m reference_server serve …` as a real process per case, {AT_ONCE} at a time, "
        f"each given {STARTUP_S:g} s to serve or exit ({section['seconds']:g} s in all). "
        "A case that serves answers one generation and `/health`. Random combinations: seed "
        f"{section['seed']} (rerun: `python -m benchmarks.reliability --only "
        f"'bad configuration' --seed {section['seed']}`).",
        "",
        "| case | arguments | outcome | expected | message |",
        "|---|---|---|---|---|",
    ]
    for r in section["results"]:
        expected = "serve or exit 2" if r["expected"] is None else f"exit {r['expected']}"
        flag = f" (names `{r['named']}`)" if r["named"] else ""
        crashed = f" — **{r['crash']}**" if r["crash"] else ""
        lines.append(
            f"| {r['case']} | {cell(_arguments(r), 160)} | {r['outcome']}{flag}{crashed} | "
            f"{expected} | {cell(_message(r), 140)} |"
        )
    return lines + [f"- crash: {example}" for example in section["crash_examples"]]
