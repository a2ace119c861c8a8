"""Request bodies (already valid against the spec) to engine sampling parameters and grammars."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .engine import SamplingParams
from .errors import invalid_request


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """The functions a forced tool call may name; output is constrained to one of them."""

    names: tuple[str, ...]
    grammar: str


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
    kind = fmt.get("type", "text")
    if kind == "json_object":
        # The schema-derived grammar samples much faster than llama.cpp's generic JSON_GBNF.
        return _schema_grammar({"type": "object"}, "response_format")
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        return _schema_grammar(schema, "response_format.json_schema.schema")
    return None


def tool_plan(body: dict[str, Any]) -> ToolPlan | None:
    """Which tool call to force, if any. `auto` is treated as `required`: see architecture.md."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    functions = {t["function"]["name"]: t["function"] for t in tools if t.get("type") == "function"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in functions:
            raise invalid_request(f"tool_choice names an unknown function '{name}'", "tool_choice")
        functions = {name: functions[name]}
    if not functions:
        return None
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": name},
                "arguments": fn.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for name, fn in functions.items()
    ]
    schema = variants[0] if len(variants) == 1 else {"anyOf": variants}
    return ToolPlan(tuple(functions), _schema_grammar(schema, "tools"))


def parse_tool_call(text: str, plan: ToolPlan) -> tuple[str, str] | None:
    """(name, arguments as a JSON string) from constrained output; None if it was cut short."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("name") not in plan.names:
        return None
    return value["name"], json.dumps(value.get("arguments", {}), ensure_ascii=False)


def _schema_grammar(schema: Any, param: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # an unsupported schema is a client error, not a crash
        raise invalid_request(f"unsupported JSON schema: {exc}", param) from exc
