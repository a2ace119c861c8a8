"""Response objects and the event stream of one response, built from engine events.

`ResponseEvents` is the single path from engine events to a response: the stream sends its events
(in OpenAI's order, numbered by `sequence_number`), and a non-streamed request feeds it the
collected generation and returns its final response, so both answers are the same by
construction.

Event order for text: `response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, `response.output_text.delta`..., `response.output_text.done`,
`response.content_part.done`, `response.output_item.done`, then `response.completed` (or
`response.incomplete` when the token limit cut the output, or `response.failed`). A function call
replaces the four middle steps with `response.output_item.added` (the `function_call` item),
`response.function_call_arguments.delta`..., `response.function_call_arguments.done` and
`response.output_item.done`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import openai_objects as oa
from .engine import ChoiceFinished, GenerationDone, GenerationEvent, TextDelta
from .responses_input import new_id
from .tool_calls import ArgumentsPiece, CallStarted, Piece, TextPiece, ToolCallScanner, ToolPlan

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResponseShell:
    """What every state of one response shares: its id, creation time and request echo."""

    response_id: str
    created_at: int
    echo: dict[str, Any]  # the request fields a response repeats

    def state(self, status: str, output: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            **self.echo,
            "output": output,
            "usage": None,
            **fields,
        }


def request_echo(
    body: dict[str, Any], model_id: str, tools: list[dict[str, Any]]
) -> dict[str, Any]:
    """The request fields a response repeats, with OpenAI's defaults for those left out."""
    text_format = (body.get("text") or {}).get("format") or {"type": "text"}
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model_id,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"),
        "metadata": body.get("metadata") or {},
        "store": body.get("store") is not False,
        "temperature": 1.0 if body.get("temperature") is None else body["temperature"],
        "top_p": 1.0 if body.get("top_p") is None else body["top_p"],
        "top_logprobs": body.get("top_logprobs") or 0,
        "presence_penalty": body.get("presence_penalty") or 0.0,
        "frequency_penalty": body.get("frequency_penalty") or 0.0,
        "text": {"format": text_format, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": tools,
        "max_tool_calls": body.get("max_tool_calls"),
        "truncation": "disabled",
        "background": False,
        "reasoning": None,
        "service_tier": "default",
        "user": body.get("user"),
        "safety_identifier": body.get("safety_identifier"),
        "prompt_cache_key": body.get("prompt_cache_key"),
    }


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    """Token counts; `cached_tokens` are input tokens whose KV cells an earlier request left."""
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt_tokens + completion_tokens,
    }


class ResponseEvents:
    """Engine events of one generation → the events of one response (a ChunkFormatter).

    `on_final` receives the final response object before its terminal event is sent, so a
    stored response can be retrieved as soon as a client has seen the stream end.
    """

    def __init__(
        self,
        shell: ResponseShell,
        plan: ToolPlan | None,
        on_final: Callable[[dict[str, Any]], None],
    ) -> None:
        self._shell = shell
        self._on_final = on_final
        self._scanner = ToolCallScanner(plan, lambda: new_id("call")) if plan else None
        self._sequence = 0
        self._output: list[dict[str, Any]] = []  # finished items
        self._item: dict[str, Any] | None = None  # the item being generated
        self._text: list[str] = []
        self._logprobs: list[dict[str, Any]] = []
        self._incomplete = False
        self._finished = False  # the generation's one choice has ended
        self.final: dict[str, Any] | None = None

    # -- the ChunkFormatter protocol -------------------------------------------------------

    def opening(self) -> list[Event]:
        started = self._shell.state("in_progress", [])
        return [
            self._event("response.created", response=started),
            self._event("response.in_progress", response=started),
        ]

    def chunks_for(self, event: GenerationEvent) -> list[Event]:
        if isinstance(event, TextDelta):
            if self._scanner is None:
                return self._events_for(TextPiece(event.text, event.logprobs))
            pieces = self._scanner.feed(event.text, event.logprobs)
            return [e for piece in pieces for e in self._events_for(piece)]
        if isinstance(event, ChoiceFinished):
            return self._close(event.finish_reason)
        if isinstance(event, GenerationDone):
            return [
                self._end(usage(event.prompt_tokens, event.completion_tokens, event.cached_tokens))
            ]
        return []

    def unfinished(self) -> list[Event]:
        """The request deadline passed: what was generated is an incomplete response."""
        closing = [] if self._finished else self._close("length")
        self._incomplete = True
        return [*closing, self._end(None)]

    def failed(self, message: str) -> list[Event]:
        error = {"code": "server_error", "message": f"inference failed: {message}"}
        final = self._shell.state("failed", list(self._output), error=error)
        return [self._event("response.failed", response=final)]

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> Event:
        raise NotImplementedError("a response carries its usage in its terminal event")

    # -- items -----------------------------------------------------------------------------

    def _events_for(self, piece: Piece) -> list[Event]:
        if isinstance(piece, CallStarted):
            item = {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": piece.call_id,
                "name": piece.name,
                "arguments": "",
            }
            return [self._open(item)]
        if isinstance(piece, ArgumentsPiece):
            assert self._item is not None
            self._text.append(piece.text)
            return [self._item_event("response.function_call_arguments.delta", delta=piece.text)]
        events = [] if self._item is not None else self._open_message()
        if not piece.text:
            return events
        self._text.append(piece.text)
        logprobs = oa.chat_logprobs(piece.logprobs)["content"] if piece.logprobs else []
        self._logprobs += logprobs
        delta = self._part_event("response.output_text.delta", delta=piece.text, logprobs=logprobs)
        return [*events, delta]

    def _open_message(self) -> list[Event]:
        item = {
            "id": new_id("msg"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        return [
            self._open(item),
            self._part_event("response.content_part.added", part=self._part()),
        ]

    def _open(self, item: dict[str, Any]) -> Event:
        self._item = item
        self._text = []
        self._logprobs = []
        return self._event(
            "response.output_item.added", output_index=len(self._output), item=dict(item)
        )

    def _part(self) -> dict[str, Any]:
        text = "".join(self._text)
        logprobs = list(self._logprobs)
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}

    def _close(self, finish_reason: str) -> list[Event]:
        self._finished = True
        events: list[Event] = []
        if self._scanner is not None:
            for piece in self._scanner.finish():
                events += self._events_for(piece)
            call = self._scanner.result
            self._incomplete = finish_reason == "length" and not (call and call.complete)
        else:
            self._incomplete = finish_reason == "length"
        if self._item is None:
            events += self._open_message()  # an empty answer is still one (empty) message
        status = "incomplete" if self._incomplete else "completed"
        item, text = self._item, "".join(self._text)
        assert item is not None
        if item["type"] == "function_call":
            done = {**item, "arguments": text, "status": status}
            events.append(
                self._item_event(
                    "response.function_call_arguments.done", name=item["name"], arguments=text
                )
            )
        else:
            part = self._part()
            done = {**item, "content": [part], "status": status}
            events += [
                self._part_event("response.output_text.done", text=text, logprobs=part["logprobs"]),
                self._part_event("response.content_part.done", part=part),
            ]
        events.append(
            self._event("response.output_item.done", output_index=len(self._output), item=done)
        )
        self._output.append(done)
        self._item = None
        return events

    def _end(self, counts: dict[str, Any] | None) -> Event:
        if self._incomplete:
            status, kind = "incomplete", "response.incomplete"
            fields: dict[str, Any] = {"incomplete_details": {"reason": "max_output_tokens"}}
        else:
            status, kind = "completed", "response.completed"
            fields = {"completed_at": int(time.time())}
        self.final = self._shell.state(status, list(self._output), usage=counts, **fields)
        self._on_final(self.final)
        return self._event(kind, response=self.final)

    # -- event envelopes -------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _item_event(self, kind: str, **fields: Any) -> Event:
        assert self._item is not None
        return self._event(kind, item_id=self._item["id"], output_index=len(self._output), **fields)

    def _part_event(self, kind: str, **fields: Any) -> Event:
        return self._item_event(kind, content_index=0, **fields)
