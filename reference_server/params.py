"""Request bodies (already valid against the spec) to engine sampling parameters and grammars."""

from __future__ import annotations

import json
from typing import Any

from .engine import SamplingParams
from .errors import invalid_request
from .tool_calls import FunctionSpec, ToolPlan, tool_plan


def sampling_params(
    body: dict[str, Any],
    *,
    max_tokens: int,
    logprobs: int | None,
    n_vocab: int,
    grammar: str | None = None,
) -> SamplingParams:
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=1.0 if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        presence_penalty=float(body.get("presence_penalty") or 0.0),
        frequency_penalty=float(body.get("frequency_penalty") or 0.0),
        seed=body.get("seed"),
        stop=stops,
        logprobs=logprobs,
        grammar=grammar,
        logit_bias=logit_bias(body.get("logit_bias"), n_vocab),
    )


def logit_bias(value: dict[str, Any] | None, n_vocab: int) -> tuple[tuple[int, float], ...]:
    pairs = []
    for key, bias in (value or {}).items():
        try:
            token = int(key)
        except ValueError:
            raise invalid_request(
                f"logit_bias key '{key}' is not a token id", "logit_bias"
            ) from None
        if not 0 <= token < n_vocab:
            raise invalid_request(
                f"logit_bias token id {token} is outside the vocabulary (0..{n_vocab - 1})",
                "logit_bias",
            )
        pairs.append((token, float(bias)))
    return tuple(pairs)


def chat_logprobs(body: dict[str, Any]) -> int | None:
    top = body.get("top_logprobs")
    if not body.get("logprobs"):
        if top is not None:
            raise invalid_request("top_logprobs requires logprobs to be true", "top_logprobs")
        return None
    return int(top or 0)


def completion_logprobs(body: dict[str, Any]) -> int | None:
    value = body.get("logprobs")
    return None if value is None else int(value)


def response_format_grammar(body: dict[str, Any]) -> str | None:
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema")
    return format_grammar(fmt.get("type", "text"), schema, "response_format.json_schema.schema")


def format_grammar(kind: str, schema: dict[str, Any] | None, param: str) -> str | None:
    """The grammar of a structured-output format: `text`, `json_object` or `json_schema`."""
    if kind == "json_object":
        # The schema-derived grammar samples much faster than llama.cpp's generic JSON_GBNF.
        return _schema_grammar({"type": "object"}, param)
    if kind == "json_schema":
        return _schema_grammar(schema or {"type": "object"}, param)
    return None


def chat_tool_plan(body: dict[str, Any]) -> ToolPlan | None:
    """The tool plan of a chat request: its function tools and `tool_choice`."""
    functions = [
        FunctionSpec(
            t["function"]["name"], t["function"].get("description"), t["function"].get("parameters")
        )
        for t in body.get("tools") or []
        if t.get("type") == "function"
    ]
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return tool_plan(functions, "required", [name])
    return tool_plan(functions, choice)


def _schema_grammar(schema: Any, param: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # an unsupported schema is a client error, not a crash
        raise invalid_request(f"unsupported JSON schema: {exc}", param) from exc
