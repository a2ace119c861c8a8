"""The clients people use, driven against the server (preset full, or --clients).

Each client library runs its flows in its own process (`_client_flows.py`), pointed at a
recording forwarder, so a failure names the client, its version and the HTTP exchanges of the
flow. A library missing from the suite's environment runs under the first interpreter that has
it (--clients-python, then .tools/clients and .tools/clients-instructor from `make clients-env`:
instructor cannot share a virtualenv with the newest openai, their jiter pins clash), or is
skipped with the reason.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compliance import _client_flows as flows
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._recorder import Recorder
from compliance.rules import BREAKS_CLIENTS, Rule, declare

pytestmark = [pytest.mark.preset("full"), pytest.mark.clients_area]

NAMES = {
    "openai": "openai SDK",
    "langchain": "langchain-openai",
    "litellm": "litellm",
    "instructor": "instructor",
    "pydantic-ai": "pydantic-ai",
}
MODULES = {
    "openai": "openai",
    "langchain": "langchain_openai",
    "litellm": "litellm",
    "instructor": "instructor",
    "pydantic-ai": "pydantic_ai",
}
WHAT = {
    ("openai", "stream-helper"): "chat.completions.stream iterates to a final completion",
    ("openai", "parse"): "chat.completions.parse gives a parsed pydantic object",
    ("openai", "tool-stream"): "a streamed forced tool call gives parsed arguments",
    ("openai", "responses"): "responses.create gives output_text",
    ("langchain", "invoke"): "ChatOpenAI.invoke gives text",
    ("langchain", "stream-usage"): "ChatOpenAI.stream with stream_usage gives usage_metadata",
    ("langchain", "bind-tools"): "bind_tools with a forced tool gives tool_calls with args",
    ("langchain", "structured-json-schema"): "with_structured_output(json_schema) parses",
    ("langchain", "structured-function-calling"): "with_structured_output(function_calling)",
    ("langchain", "embeddings"): "OpenAIEmbeddings.embed_documents gives float vectors",
    ("litellm", "completion"): "litellm.completion gives text",
    ("litellm", "stream"): "a litellm stream rebuilds with usage",
    ("litellm", "embedding"): "litellm.embedding gives one vector per input",
    ("litellm", "tools"): "litellm.completion with a forced tool gives JSON arguments",
    ("instructor", "json-schema"): "instructor Mode.JSON_SCHEMA gives the response model",
    ("instructor", "tools"): "instructor Mode.TOOLS gives the response model",
    ("pydantic-ai", "agent-tool"): "an agent with a function tool calls it and then finishes",
    ("pydantic-ai", "structured"): "an agent with a structured output_type gives that object",
    ("pydantic-ai", "run-stream"): "Agent.run_stream streams text to the end",
}
RULES: dict[tuple[str, str], Rule] = {
    key: declare(f"clients.{key[0]}.{key[1]}", BREAKS_CLIENTS, what, clients=(NAMES[key[0]],))
    for key, what in WHAT.items()
}
FLOW_FILE = Path(flows.__file__)
DEFAULT_CLIENTS_PYTHONS = (".tools/clients/bin/python", ".tools/clients-instructor/bin/python")


def interpreters(settings: Settings) -> list[str]:
    """Where client libraries may live: this environment, --clients-python (comma-separated),
    then the environments `make clients-env` creates."""
    found = [sys.executable]
    given = [p.strip() for p in (settings.clients_python or "").split(",") if p.strip()]
    made = [str(Path.cwd() / p) for p in DEFAULT_CLIENTS_PYTHONS]
    return found + given + [p for p in made if Path(p).exists()]


@functools.cache
def _has(python: str, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return subprocess.run([python, "-c", probe], timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _interpreter(client: str, settings: Settings) -> str | None:
    if importlib.util.find_spec(MODULES[client]) is not None:
        return sys.executable
    return next((p for p in interpreters(settings)[1:] if _has(p, MODULES[client])), None)


@pytest.fixture(scope="module")
def recorder(settings: Settings) -> Iterator[Recorder]:
    with Recorder(settings.root_url, settings.request_timeout) as rec:
        yield rec


@pytest.fixture(scope="module")
def outcomes(
    settings: Settings, recorder: Recorder, model: str, embedding_model: str
) -> dict[str, dict[str, Any]]:
    return {}


def _run_client(
    client: str, settings: Settings, recorder: Recorder, model: str, embedding_model: str
) -> dict[str, Any]:
    python = _interpreter(client, settings)
    if python is None:
        return {
            "missing": f"{NAMES[client]} is installed in none of {interpreters(settings)}: "
            "run `make clients-env`, install the [clients] extra, or name an interpreter "
            "that has it with --clients-python"
        }
    cfg = {
        "base_url": recorder.base_url,
        "api_key": settings.api_key or "inferno-no-key",
        "model": model,
        "embedding_model": embedding_model,
        "timeout": settings.request_timeout,
    }
    limit = len(flows.FLOWS[client]) * 6 * settings.request_timeout + 60
    try:
        proc = subprocess.run(
            [python, str(FLOW_FILE), client, json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=limit,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout if isinstance(exc.stdout, str) else ""
        stderr = f"the client process did not finish in {limit:.0f} s"
    lines = {}
    for line in stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "flow" in entry:
            lines[entry["flow"]] = entry
    return {"flows": lines, "stderr": stderr[-2000:]}


@pytest.mark.parametrize(
    "library,flow", [pytest.param(c, f, id=f"{c}-{f}") for c, fs in flows.FLOWS.items() for f in fs]
)
def test_client_flow(
    library: str,
    flow: str,
    settings: Settings,
    recorder: Recorder,
    outcomes: dict[str, dict[str, Any]],
    model: str,
    embedding_model: str,
) -> None:
    client = library
    if client not in outcomes:
        outcomes[client] = _run_client(client, settings, recorder, model, embedding_model)
    result = outcomes[client]
    if "missing" in result:
        pytest.skip(result["missing"])
    entry = result["flows"].get(flow)
    rule = RULES[(client, flow)]
    if entry is None:
        fail(rule, f"{NAMES[client]}: the flow did not run\n{result['stderr']}")
    if entry["outcome"] == "missing":
        pytest.skip(entry["message"])
    if entry["outcome"] == "skipped":
        pytest.skip(f"{NAMES[client]} {entry['version']}: {entry['message']}")
    passed = entry["outcome"] == "passed"
    if passed:
        ensure(passed, rule, "")  # records the rule as exercised and holding
        return
    exchanges = recorder.between(entry["started"], entry["ended"])
    shown = "\n".join(f"  {r.describe()}" for r in exchanges[-3:]) or "  (no HTTP request made)"
    message = (
        f"{NAMES[client]} {entry['version']} {flow}: {entry['message']}\n"
        f"HTTP exchanges of the flow (last {min(3, len(exchanges))} of {len(exchanges)}):\n"
        f"{shown}"
    )
    fail(rule, message, reproduce=exchanges[-1].curl() if exchanges else None)
