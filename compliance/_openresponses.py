"""The checks the `openresponses` profile adds to a Responses stream or body.

They run after OpenAI's own checks of the same answer held (schema, event order, sequence
numbers), so a deviation from both contracts is reported under OpenAI's rule, and only what Open
Responses alone asks is reported here. The schema overlays (`x-openresponses` in specs/) need
no code: `_schema.check` names the violations only they find `openresponses.fields`.
"""

from __future__ import annotations

import json
from typing import Any

import specs
from compliance._client import Exchange
from compliance._failure import ensure, ensure_soft, reached
from compliance._openresponses_rules import (
    DONE,
    EVENT_LINE,
    FIELDS,
    INCOMPLETE_LAST,
    ITEM_STATES,
)
from inferno.sse import SSEEvent

# Events of one content part of a message (its text or refusal), between the part's added and
# done events. Reasoning items follow their own parts (`_reasoning`), not checked here.
PART_EVENTS = (
    "response.output_text.delta",
    "response.output_text.done",
    "response.output_text.annotation.added",
    "response.refusal.delta",
    "response.refusal.done",
    "response.content_part.done",
)


def active(profile: str) -> bool:
    return specs.has_profile(profile, "openresponses")


def check_framing(raw: list[SSEEvent], exchange: Exchange) -> None:
    """Each event's `event:` line names its type; the literal `data: [DONE]` ends the stream.

    Soft: the events stay readable, so the stream's other checks still run."""
    for index, event in enumerate(raw):
        kind = _type_of(event.data)
        if kind is None:
            continue  # [DONE], or not JSON: the shared rules say what is wrong with it
        line = "no `event:` line" if event.event == "message" else f"`event: {event.event}`"
        ensure_soft(
            event.event == kind,
            EVENT_LINE,
            f"event {index} ({kind}) has {line}: Open Responses names every event's type there",
            exchange,
        )
    last = raw[-1].data.strip() if raw else ""
    ensure_soft(
        last == "[DONE]",
        DONE,
        f"the stream ended with {last[:80]!r}, not the literal `data: [DONE]` Open Responses "
        "ends every stream with",
        exchange,
    )


def check_items(events: list[dict[str, Any]], exchange: Exchange) -> None:
    """Items and content parts as state machines: added, then their deltas, then done, and
    nothing after done; a message's parts each added and done before the item is."""
    items: dict[int, str] = {}  # output_index -> "added" | "done"
    parts: dict[tuple[int, int], str] = {}  # (output_index, content_index) -> "added" | "done"
    incomplete: int | None = None  # the item that ended incomplete
    for position, event in enumerate(events):
        kind, index = event["type"], event.get("output_index")
        if not isinstance(index, int):
            continue  # response-level events
        where = f"event {position} ({kind})"
        if kind == "response.output_item.added":
            ensure(
                incomplete is None,
                INCOMPLETE_LAST,
                f"{where} adds output item {index} after item {incomplete} ended incomplete",
                exchange,
            )
            items[index] = "added"
            continue
        state = items.get(index)
        _state(state == "added", f"{where} for output item {index} {_when(state)}", exchange)
        content = event.get("content_index")
        part = (index, content if isinstance(content, int) else -1)
        if kind == "response.content_part.added":
            _state(part not in parts, f"{where} adds content part {content} twice", exchange)
            parts[part] = "added"
        elif kind in PART_EVENTS:
            known = parts.get(part)
            _state(
                known == "added",
                f"{where} for content part {content} of item {index} {_part_when(known)}",
                exchange,
            )
            if kind == "response.content_part.done":
                parts[part] = "done"
        elif kind == "response.output_item.done":
            _item_done(index, event.get("item") or {}, parts, where, exchange)
            items[index] = "done"
            if (event.get("item") or {}).get("status") == "incomplete":
                incomplete = index


def check_response(response: dict[str, Any], exchange: Exchange | None) -> None:
    """A whole response (a body, a stream's final one): validated with the profile's overlays
    already, so its fields rule is reached; only its last output item may be incomplete (the
    one the limit cut)."""
    reached(FIELDS)
    output = [item for item in response.get("output") or () if isinstance(item, dict)]
    cut = [i for i, item in enumerate(output) if item.get("status") == "incomplete"]
    ensure(
        not cut or cut == [len(output) - 1],
        INCOMPLETE_LAST,
        f"output item {cut[0] if cut else '-'} is incomplete but is not the last of "
        f"{len(output)} items",
        exchange,
    )


def _item_done(
    index: int,
    item: dict[str, Any],
    parts: dict[tuple[int, int], str],
    where: str,
    exchange: Exchange,
) -> None:
    mine = {content: state for (owner, content), state in parts.items() if owner == index}
    still_open = sorted(c for c, state in mine.items() if state != "done")
    _state(not still_open, f"{where} before content_part.done of part(s) {still_open}", exchange)
    if item.get("type") == "message":
        count = len(item.get("content") or ())
        _state(
            sorted(mine) == list(range(count)),
            f"{where}: the message has {count} content part(s), the stream added and finished "
            f"{sorted(mine)}",
            exchange,
        )


def _state(condition: bool, message: str, exchange: Exchange) -> None:
    ensure(condition, ITEM_STATES, message, exchange)


def _when(state: str | None) -> str:
    return "after its output_item.done" if state == "done" else "before its output_item.added"


def _part_when(state: str | None) -> str:
    return "after its content_part.done" if state == "done" else "before its content_part.added"


def _type_of(data: str) -> str | None:
    try:
        event = json.loads(data)
    except ValueError:
        return None
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else None
