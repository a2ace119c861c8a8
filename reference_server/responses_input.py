"""A Responses request (already valid against the spec) as a conversation the chat template renders.

Input items become stored items (with ids) and chat messages; function tools and `tool_choice`
become a ToolPlan of the shared tool-call machinery; `text.format` becomes a grammar. Whatever a
local text model cannot honour is declined here with a 400 naming the parameter.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ApiError, invalid_request
from .params import format_grammar
from .responses_compaction import SUMMARY_HEADING, decode_summary
from .responses_store import Item, StoredResponse
from .tool_calls import FunctionSpec, ToolPlan, tool_plan

LOGPROBS = "message.output_text.logprobs"  # the one `include` value a local model can honour


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class ResponseLookup(Protocol):
    """Where `previous_response_id` is looked up: the store, or a WebSocket's own state first."""

    def get(self, response_id: str) -> StoredResponse | None: ...


@dataclass(frozen=True, slots=True)
class Conversation:
    previous: StoredResponse | None
    input_items: tuple[Item, ...]  # this request's input, as stored items
    context: tuple[Item, ...]  # the earlier transcript followed by this input
    messages: list[dict[str, Any]]  # what the chat template renders (instructions first)
    plan: ToolPlan | None
    tools: list[dict[str, Any]]  # the function tools, as a response echoes them


def _declined(param: str, why: str) -> ApiError:
    return invalid_request(f"'{param}' is not supported by this server: {why}", param)


def _set(value: Any) -> bool:
    return value is not None and value is not False and value != {} and value != []


# (parameter, is it asked for, why it cannot be honoured)
_UNSUPPORTED: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("background", _set, "responses are generated while the request waits"),
    ("conversation", _set, "use previous_response_id to continue a conversation"),
    ("prompt", _set, "prompt templates are stored by OpenAI"),
    ("context_management", _set, "the context is not compacted"),
    ("moderation", _set, "there is no moderation model"),
    ("truncation", lambda v: v == "auto", "the input must fit the context window"),
)


def decline_unsupported(body: dict[str, Any]) -> None:
    """400 for fields that ask for what a local text model cannot do (see architecture.md)."""
    for param, asked, why in _UNSUPPORTED:
        if asked(body.get(param)):
            raise _declined(param, why)
    for key, value in (body.get("reasoning") or {}).items():
        if value is not None:
            raise _declined(f"reasoning.{key}", "this model has no reasoning settings")
    for index, value in enumerate(body.get("include") or ()):
        if value != LOGPROBS:
            raise _declined(f"include[{index}]", f"only '{LOGPROBS}' can be included")
    verbosity = (body.get("text") or {}).get("verbosity")
    if verbosity not in (None, "medium"):
        raise _declined("text.verbosity", "the model's verbosity cannot be set")
    for index, tool in enumerate(body.get("tools") or ()):
        if tool.get("type") != "function":
            raise _declined(
                f"tools[{index}].type",
                f"'{tool.get('type')}' tools are hosted by OpenAI; only function tools run here",
            )


def function_specs(body: dict[str, Any]) -> list[FunctionSpec]:
    return [
        FunctionSpec(t["name"], t.get("description"), t.get("parameters"))
        for t in body.get("tools") or ()
        if t.get("type") == "function"
    ]


def response_tool_plan(body: dict[str, Any], functions: list[FunctionSpec]) -> ToolPlan | None:
    choice = body.get("tool_choice") or "auto"
    if isinstance(choice, str):
        return tool_plan(functions, choice)
    kind = choice.get("type")
    if kind == "function":
        return tool_plan(functions, "required", [choice["name"]], param="tool_choice.name")
    if kind == "allowed_tools":
        names = [t.get("name") for t in choice["tools"] if t.get("type") == "function"]
        if len(names) != len(choice["tools"]):
            raise _declined("tool_choice.tools", "only function tools can be allowed")
        return tool_plan(functions, choice["mode"], names, param="tool_choice.tools")
    raise _declined("tool_choice.type", f"'{kind}' tools are hosted by OpenAI")


def text_format_grammar(body: dict[str, Any]) -> str | None:
    fmt = (body.get("text") or {}).get("format") or {}
    return format_grammar(fmt.get("type", "text"), fmt.get("schema"), "text.format.schema")


def tools_echo(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The function tools as a response lists them (OpenAI's defaults filled in)."""
    return [
        {
            "type": "function",
            "name": t["name"],
            "description": t.get("description"),
            "parameters": t.get("parameters"),
            "strict": True if t.get("strict") is None else t["strict"],
        }
        for t in body.get("tools") or ()
    ]


def previous_response(body: dict[str, Any], store: ResponseLookup) -> StoredResponse | None:
    """The response `previous_response_id` continues; 404 when the server does not hold it."""
    if not body.get("previous_response_id"):
        return None
    previous = store.get(body["previous_response_id"])
    if previous is None:
        raise ApiError(
            404,
            f"Previous response with id '{body['previous_response_id']}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return previous


def read_context(body: dict[str, Any], store: ResponseLookup) -> tuple[Item, ...]:
    """The earlier transcript followed by this request's input items."""
    previous = previous_response(body, store)
    return (*(previous.transcript if previous else ()), *input_items(body.get("input")))


def read_conversation(body: dict[str, Any], store: ResponseLookup) -> Conversation:
    decline_unsupported(body)
    previous = previous_response(body, store)
    earlier = previous.transcript if previous else ()
    items = tuple(input_items(body.get("input")))
    context = (*earlier, *items)
    _check_call_outputs(context, len(earlier))
    functions = function_specs(body)
    plan = response_tool_plan(body, functions)
    messages = to_messages(body.get("instructions"), context)
    return Conversation(previous, items, context, messages, plan, tools_echo(body))


def input_items(value: str | list[dict[str, Any]] | None) -> list[Item]:
    """The request's input as stored items: ids, typed content parts, statuses."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    return [_item(index, item) for index, item in enumerate(value)]


def _item(index: int, item: dict[str, Any]) -> Item:
    kind = item.get("type") or "message"
    where = f"input[{index}]"
    if kind == "message":
        message = {
            "id": item.get("id") or new_id("msg"),
            "type": "message",
            "role": item["role"],
            "content": _parts(item["role"], item["content"], where),
            "status": item.get("status") or "completed",
        }
        if item.get("phase"):  # an assistant's commentary or final answer (Open Responses)
            message["phase"] = item["phase"]
        return message
    if kind == "compaction":
        content = item.get("encrypted_content")
        decode_summary(content, f"{where}.encrypted_content")  # refused now, not when rendered
        return {
            "id": item.get("id") or new_id("cmp"),
            "type": "compaction",
            "encrypted_content": content,
        }
    if kind == "function_call":
        return {
            "id": item.get("id") or new_id("fc"),
            "type": "function_call",
            "call_id": item["call_id"],
            "name": item["name"],
            "arguments": item["arguments"],
            "status": item.get("status") or "completed",
        }
    if kind == "function_call_output":
        output = item["output"]
        return {
            "id": item.get("id") or new_id("fco"),
            "type": "function_call_output",
            "call_id": item["call_id"],
            "output": output if isinstance(output, str) else _parts("tool", output, where),
            "status": item.get("status") or "completed",
        }
    raise _declined(f"{where}.type", f"'{kind}' items need tools or models this server lacks")


def _parts(role: str, content: str | list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        content = [{"type": kind, "text": content}]
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "input_text":
            parts.append({"type": "input_text", "text": part["text"]})
        elif kind == "output_text":
            parts.append(
                {
                    "type": "output_text",
                    "text": part["text"],
                    "annotations": part.get("annotations") or [],
                    "logprobs": part.get("logprobs") or [],
                }
            )
        elif kind == "refusal":
            parts.append({"type": "refusal", "refusal": part["refusal"]})
        else:
            raise _declined(f"{where}.content[{j}].type", "this is a text-only model")
    return parts


def _check_call_outputs(context: tuple[Item, ...], first_new: int) -> None:
    """A function call output must answer a call of the conversation (as OpenAI checks)."""
    calls = {item["call_id"] for item in context if item["type"] == "function_call"}
    for position, item in enumerate(context[first_new:]):
        if item["type"] == "function_call_output" and item["call_id"] not in calls:
            raise invalid_request(
                f"No tool call found for function call output with call_id {item['call_id']}.",
                f"input[{position}].call_id",
            )


def to_messages(instructions: str | None, items: tuple[Item, ...]) -> list[dict[str, Any]]:
    """Chat messages for the template: instructions, then each item in order.

    Compaction summaries join the instructions in the one leading system message: chat templates
    accept a system message only first, and a summary stands for what came before anyway.
    """
    system = [instructions] if instructions else []
    messages: list[dict[str, Any]] = []
    for item in items:
        if item["type"] == "compaction":
            summary = decode_summary(item["encrypted_content"], "input")
            system.append(f"{SUMMARY_HEADING}\n{summary}")
        elif item["type"] == "message":
            messages.append({"role": item["role"], "content": text_of(item["content"])})
        elif item["type"] == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else {}
            if last.get("role") == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)  # parallel calls are one assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        else:
            output = item["output"]
            text = output if isinstance(output, str) else text_of(output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
    if system:
        messages.insert(0, {"role": "developer", "content": "\n\n".join(system)})
    return messages


def text_of(parts: list[dict[str, Any]]) -> str:
    return "".join(p.get("text") or p.get("refusal") or "" for p in parts)
