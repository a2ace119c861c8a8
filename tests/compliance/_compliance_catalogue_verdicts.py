"""Broken servers that test the verdict itself rather than one rule: shed load is retried or
inconclusive (never a failure), and a check that meets several faults reports each of them.

`extra["verdict"]` says what `test_catalogue.py` asserts instead of "caught by `rule`":
- "inconclusive": no check failed, some were inconclusive, the run exits with the code asked;
- "all-of": every (rule, cause fragment) in `extra["deviations_seen"]` is a row of the report.
"""

from __future__ import annotations

import itertools
import json
import threading

from _compliance_catalogue import Case
from _compliance_proxy import Mutation, Reply

SHED_BODY = json.dumps(
    {
        "error": {
            "message": "No deployments available: cooling down",
            "type": "rate_limit_error",
            "param": None,
            "code": "429",
        }
    }
).encode()


def _sheds(times: int | None):
    """A full override: POST /chat/completions answers 429 with Retry-After 1, the first `times`
    times (None: always), as a router cooling down its only deployment does."""
    counter = itertools.count()
    lock = threading.Lock()

    def handle(method: str, path: str, raw: bytes) -> Reply | None:
        if method != "POST" or not path.endswith("/chat/completions"):
            return None
        with lock:
            seen = next(counter)
        if times is not None and seen >= times:
            return None
        return Reply(429, {"Content-Type": "application/json", "Retry-After": "1"}, SHED_BODY)

    return handle


def _three_faults(path: str, req, events: list[str]) -> list[str]:
    """Two schema faults (finish_reason key dropped while null, created as a string) and a
    behaviour fault (a new id per chunk) in one stream: each must be its own row."""
    out = []
    for index, data in enumerate(events):
        if data == "[DONE]":
            out.append(data)
            continue
        chunk = json.loads(data)
        chunk["created"] = str(chunk.get("created"))
        chunk["id"] = f"{chunk.get('id')}-{index}"
        for choice in chunk.get("choices") or []:
            if choice.get("finish_reason") is None:
                choice.pop("finish_reason", None)
        out.append(json.dumps(chunk))
    return out


VERDICT_CASES: tuple[Case, ...] = (
    Case(
        "sheds-briefly",
        "LiteLLM: a deployment cooled down for a few seconds, then serving again",
        Mutation(handle=_sheds(3)),
        "test_chat_shape",
        control=True,
    ),
    Case(
        "sheds-throughout",
        "LiteLLM: the only deployment cooled down (429, Retry-After) for the whole run",
        Mutation(handle=_sheds(None)),
        "test_chat_shape or test_stream_framing_and_chunks",
        "inconclusive",
        args=("--shed-wait", "3", "--inconclusive-exit", "3"),
        extra={"verdict": "inconclusive", "exit_code": 3},
    ),
    Case(
        "three-faults-one-check",
        "LiteLLM proxy: chunks omit null finish_reason, plus a string created and changing ids",
        Mutation(events=_three_faults),
        "test_stream_framing_and_chunks and chat",
        "schema.chunk",
        extra={
            "verdict": "all-of",
            "deviations_seen": [
                ("schema.chunk", "finish_reason"),
                ("schema.chunk", "$.created"),
                ("sse.same-id", ""),
            ],
        },
    ),
)
