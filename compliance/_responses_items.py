"""OpenAI's order of a Responses stream's items: each added before its events, done once, its
streamed text and arguments equal to what the done events and the final response say."""

from __future__ import annotations

from typing import Any

from compliance._client import Exchange
from compliance._failure import ensure
from compliance._reasoning import REASONING_EVENTS, check_reasoning_event
from compliance._responses_rules import STREAM_DELTAS, STREAM_ORDER


def _message_text(item: dict[str, Any]) -> str:
    return "".join(part.get("text") or "" for part in item.get("content") or ())


class ItemTracker:
    """Follows output items through their events: added before use, done once, text consistent."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.open: dict[int, dict[str, Any]] = {}
        self.done: dict[int, dict[str, Any]] = {}
        self.text: dict[int, str] = {}
        self.arguments: dict[int, str] = {}
        self.parts: set[tuple[int, int]] = set()
        self.closed: set[tuple[int, int]] = set()  # parts whose text is done: no delta after

    def run(self, events: list[dict[str, Any]], final: dict[str, Any]) -> None:
        for event in events[1:-1]:
            self.step(event)
        self.order(not self.open, f"items {sorted(self.open)} never got output_item.done")
        output = final.get("output") or []
        self.order(
            len(output) == len(self.done),
            f"the final response has {len(output)} output items, the stream finished "
            f"{len(self.done)}",
        )
        for index, item in enumerate(output):
            streamed = self.done[index]
            self.order(
                (item.get("type"), item.get("id")) == (streamed.get("type"), streamed.get("id")),
                f"final output[{index}] is not the item streamed at output_index {index}",
            )
            if item.get("type") == "message":
                self.same(_message_text(streamed), _message_text(item), f"output[{index}] text")
            elif item.get("type") == "function_call":
                self.same(streamed.get("arguments"), item.get("arguments"), "final arguments")

    def step(self, event: dict[str, Any]) -> None:
        kind, index = event["type"], event.get("output_index")
        if kind == "response.in_progress":
            # The response is in progress before any of its items: created, in_progress, items.
            began = sorted({*self.open, *self.done})
            self.order(not began, f"response.in_progress after output items {began} began")
            return
        if kind == "response.output_item.added":
            self.order(index not in self.open and index not in self.done, f"{index} added twice")
            self.open[index] = event["item"]
            return
        if index is None:
            return  # no output item of this stream to follow
        self.order(index in self.open, f"{kind} for output_index {index} outside its item")
        if kind == "response.content_part.added":
            self.parts.add((index, event["content_index"]))
        elif kind == "response.output_text.delta":
            part = (index, event["content_index"])
            self.order(
                part in self.parts,
                f"output_text.delta before content_part.added (output_index {index})",
            )
            self.order(part not in self.closed, f"output_text.delta after its done {part}")
            self.text[index] = self.text.get(index, "") + event["delta"]
        elif kind in ("response.output_text.done", "response.content_part.done"):
            self.closed.add((index, event.get("content_index")))
            if kind == "response.output_text.done":
                self.same(self.text.get(index, ""), event["text"], "output_text.done text")
        elif kind in REASONING_EVENTS:
            check_reasoning_event(event, self.open[index], self.exchange)
        elif kind == "response.function_call_arguments.delta":
            self.arguments[index] = self.arguments.get(index, "") + event["delta"]
        elif kind == "response.function_call_arguments.done":
            self.same(self.arguments.get(index, ""), event["arguments"], "arguments.done")
        elif kind == "response.output_item.done":
            added, done = self.open.pop(index), event["item"]
            self.done[index] = done
            self.order(done.get("id") == added.get("id"), f"output_index {index} changed its id")
            if done.get("type") == "message":
                self.same(self.text.get(index, ""), _message_text(done), "the done message")
            elif done.get("type") == "function_call":
                self.same(self.arguments.get(index, ""), done.get("arguments"), "the done call")

    def order(self, condition: bool, message: str) -> None:
        ensure(condition, STREAM_ORDER, message, self.exchange)

    def same(self, streamed: Any, stated: Any, what: str) -> None:
        ensure(
            streamed == stated,
            STREAM_DELTAS,
            f"the deltas joined ({streamed!r}) differ from {what} ({stated!r})",
            self.exchange,
        )
