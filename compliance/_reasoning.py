"""What a reasoning model thinks, on every surface: recognised, never taken for the answer, and
held to its own shape where a server sends it.

Chat and completions: OpenAI's chat API sends no thought, but servers for reasoning models
(llama-server, vLLM, DeepSeek) add a `reasoning_content` (or `reasoning`) field beside `content`
and stream it before the answer; the contract's own part is the count,
`completion_tokens_details.reasoning_tokens`, which is part of `completion_tokens`. Responses:
`reasoning` output items (`summary` and `content` parts) come before the message they lead to,
and `output_tokens_details.reasoning_tokens` is part of `output_tokens`.

Every answer goes through these checks (`_answer.answer_of`, `_responses.create` and
`_responses.check_order`), so no check can pass a server that breaks them by not looking.
"""

from __future__ import annotations

from typing import Any

from compliance import _shared_rules as R
from compliance._client import Exchange
from compliance._failure import ensure
from compliance._responses_rules import USAGE as RESPONSES_USAGE
from compliance.rules import CONTRACT, Rule, declare

# Where local servers put what a reasoning model thinks (OpenAI's chat API sends none of it).
REASONING_FIELDS = ("reasoning_content", "reasoning")

CHAT_REASONING = declare(
    "chat.reasoning.shape",
    CONTRACT,
    "reasoning_tokens are part of completion_tokens; streamed reasoning (reasoning_content, "
    "as DeepSeek documents it) is a string that comes before the answer's content",
    clients=(R.LANGCHAIN, R.LITELLM),
)
RESPONSES_REASONING = declare(
    "responses.reasoning.shape",
    CONTRACT,
    "a reasoning item has an id and summary/content parts of text, comes before the message it "
    "leads to, and its reasoning_tokens are part of output_tokens",
)
# Where a Responses stream carries reasoning text, and the part type each one belongs to.
REASONING_EVENTS = {
    "response.reasoning_text.delta": "delta",
    "response.reasoning_text.done": "text",
    "response.reasoning_summary_text.delta": "delta",
    "response.reasoning_summary_text.done": "text",
}
_PARTS = {"summary": "summary_text", "content": "reasoning_text"}


def reasoning_of(part: dict[str, Any]) -> str:
    """The thought in a chat message or delta, whichever field the server uses."""
    return next((part[k] for k in REASONING_FIELDS if isinstance(part.get(k), str)), "")


def _count(details: Any, key: str) -> int | None:
    value = details.get(key) if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _within(part: int | None, whole: Any, what: str, rule: Rule, exchange: Exchange) -> None:
    if part is None or not isinstance(whole, int) or isinstance(whole, bool):
        return
    ensure(part <= whole, rule, f"{what}: {part} > {whole}", exchange, cause=f"{rule}: {what}")


# -- chat and completions ----------------------------------------------------------------------


def check_chat_usage(usage: Any, exchange: Exchange, reasoning_rule: Rule) -> None:
    """The detail counts are parts of their totals: cached within prompt, reasoning within
    completion tokens."""
    if not isinstance(usage, dict):
        return  # whether usage must be there is the usage checks' matter
    cached = _count(usage.get("prompt_tokens_details"), "cached_tokens")
    _within(cached, usage.get("prompt_tokens"), "cached_tokens > prompt_tokens", R.USAGE, exchange)
    reasoning = _count(usage.get("completion_tokens_details"), "reasoning_tokens")
    what = "reasoning_tokens > completion_tokens"
    _within(reasoning, usage.get("completion_tokens"), what, reasoning_rule, exchange)


def check_chat_message(message: dict[str, Any], exchange: Exchange) -> None:
    for key in REASONING_FIELDS:
        value = message.get(key)
        ensure(
            value is None or isinstance(value, str),
            CHAT_REASONING,
            f"message.{key} must be a string, got {type(value).__name__}",
            exchange,
            cause=f"{CHAT_REASONING}: {key} not a string",
        )


def check_chat_stream(chunks: list[dict[str, Any]], exchange: Exchange) -> None:
    """Reasoning deltas are strings and, per choice, none comes after the first content delta."""
    answering: set[Any] = set()  # choices whose content has begun
    for position, chunk in enumerate(chunks):
        for raw in chunk.get("choices") or ():
            delta = raw.get("delta") or {}
            check_chat_message(delta, exchange)
            index = raw.get("index", 0)
            ensure(
                not (reasoning_of(delta) and index in answering),
                CHAT_REASONING,
                f"chunk {position} streams reasoning for choice {index} after its content began",
                exchange,
                cause=f"{CHAT_REASONING}: reasoning after content",
            )
            if delta.get("content"):
                answering.add(index)


# -- Responses ---------------------------------------------------------------------------------


def check_response(response: dict[str, Any], exchange: Exchange) -> None:
    """Reasoning items have their shape and precede the message; the usage parts fit."""
    output = [item for item in response.get("output") or () if isinstance(item, dict)]
    kinds = [item.get("type") for item in output]
    for index, item in enumerate(output):
        if item.get("type") != "reasoning":
            continue
        check_reasoning_item(item, f"output[{index}]", exchange)
        ensure(
            "message" not in kinds[:index],
            RESPONSES_REASONING,
            f"output[{index}] is a reasoning item after the message (output types: {kinds})",
            exchange,
            cause=f"{RESPONSES_REASONING}: reasoning after the message",
        )
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return
    cached = _count(usage.get("input_tokens_details"), "cached_tokens")
    what = "cached_tokens > input_tokens"
    _within(cached, usage.get("input_tokens"), what, RESPONSES_USAGE, exchange)
    reasoning = _count(usage.get("output_tokens_details"), "reasoning_tokens")
    what = "reasoning_tokens > output_tokens"
    _within(reasoning, usage.get("output_tokens"), what, RESPONSES_REASONING, exchange)


def check_reasoning_item(item: dict[str, Any], where: str, exchange: Exchange) -> None:
    """OpenAI's Reasoning item: an id, a `summary` list (required, maybe empty) and an optional
    `content` list, each part a text of its documented type."""
    shape = isinstance(item.get("id"), str) and isinstance(item.get("summary"), list)
    ensure(
        shape,
        RESPONSES_REASONING,
        f"{where}: a reasoning item needs a string id and a summary list, got {str(item)[:200]}",
        exchange,
        cause=f"{RESPONSES_REASONING}: id or summary",
    )
    for field, part_type in _PARTS.items():
        parts = item.get(field)
        if parts is None and field == "content":
            continue
        ensure(
            isinstance(parts, list)
            and all(
                isinstance(p, dict)
                and p.get("type") == part_type
                and isinstance(p.get("text"), str)
                for p in parts
            ),
            RESPONSES_REASONING,
            f"{where}.{field} must be a list of {part_type} parts with a string text, "
            f"got {str(parts)[:200]}",
            exchange,
            cause=f"{RESPONSES_REASONING}: {field} parts",
        )


def check_reasoning_event(event: dict[str, Any], item: dict[str, Any], exchange: Exchange) -> None:
    """A reasoning text event belongs to a reasoning item and carries its text as a string."""
    kind = event["type"]
    ensure(
        item.get("type") == "reasoning",
        RESPONSES_REASONING,
        f"{kind} for output_index {event.get('output_index')}, a {item.get('type')} item",
        exchange,
        cause=f"{RESPONSES_REASONING}: event outside a reasoning item",
    )
    field = REASONING_EVENTS[kind]
    ensure(
        isinstance(event.get(field), str),
        RESPONSES_REASONING,
        f"{kind}.{field} must be a string, got {event.get(field)!r}",
        exchange,
        cause=f"{RESPONSES_REASONING}: {kind} {field}",
    )
