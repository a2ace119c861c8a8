"""schemathesis plumbing for the fuzz tests: the profiled spec, cheap cases and the checks."""

from __future__ import annotations

import copy
import functools
from typing import Any

import specs

# Generated values above these would make a real LLM generate for minutes.
CLAMPS = {
    "max_tokens": 8,
    "max_completion_tokens": 8,
    "max_output_tokens": 16,  # OpenAI's minimum for the Responses API
    "n": 2,
    "best_of": 2,
    "top_logprobs": 3,
}
# Operational endpoints are not part of OpenAI's contract; only the API surface is fuzzed.
FUZZED = (
    "listModels",
    "retrieveModel",
    "createChatCompletion",
    "createCompletion",
    "createEmbedding",
    "createResponse",
)


# schemathesis (and hypothesis under it) is imported when a fuzz test runs, not when the suite
# is collected: most runs select no fuzz test, and the import costs a third of a second.


@functools.cache
def schema(profile: str) -> Any:
    import schemathesis

    # schemathesis may annotate the document it is given: hand it a copy of the shared one.
    return schemathesis.openapi.from_dict(copy.deepcopy(specs.profiled_spec(profile)))


def checks() -> list[Any]:
    """The schemathesis checks every fuzzed answer must pass."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]


def operation(profile: str, operation_id: str) -> Any:
    op = specs.operation(operation_id)
    return schema(profile)[op.path][op.method]


def is_negative(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return bool(meta is not None and meta.generation.mode.is_negative)


def cheapen(case: Any, model: str) -> Any:
    """Clamp costly knobs and aim valid cases at a real model so they reach generation.

    Negative cases stay untouched: clamping could turn the invalid value into a valid one.
    """
    if is_negative(case) or not isinstance(case.body, dict):
        return case
    body = dict(case.body)
    for key, limit in CLAMPS.items():
        value = body.get(key)
        # JSON Schema integers include 7.0, so floats with an integral value count too.
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and value > limit:
            body[key] = limit if isinstance(value, int) else float(limit)
    if "model" in body:
        body["model"] = model
    case.body = body
    return case
