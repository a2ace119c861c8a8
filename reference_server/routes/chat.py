"""POST /v1/chat/completions (and its WebSocket twin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sanic import Request, json
from sanic.response import HTTPResponse

from .. import openai_objects as oa
from ..engine import ChoiceFinished, GenerationEvent, GenerationRequest, TextDelta
from ..params import chat_logprobs, chat_tool_plan, response_format_grammar
from ..registry import ServedModel
from ..sinks import open_sse
from ..streaming import TimedEvents, collect, record_usage, run_stream, stream_error
from ..tool_calls import ArgumentsPiece, CallStarted, Piece, TextPiece, ToolCallScanner, ToolPlan
from ._common import (
    conversation_generation,
    conversation_tokens,
    read_request,
    resolve_model,
    stream_settings,
)


@dataclass
class PreparedChat:
    model: ServedModel
    generation: GenerationRequest
    plan: ToolPlan | None
    body: dict[str, Any]


def prepare_chat(request: Request, body: dict[str, Any]) -> PreparedChat:
    model = resolve_model(request, body)
    plan = chat_tool_plan(body)
    tokens = conversation_tokens(model, body["messages"], plan, "messages")
    generation = conversation_generation(
        request,
        model,
        tokens,
        body,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        grammar=plan.grammar if plan else response_format_grammar(body),
        logprobs=chat_logprobs(body),
        n=body.get("n") or 1,
    )
    return PreparedChat(model, generation, plan, body)


async def chat_completions(request: Request) -> HTTPResponse | None:
    prepared = prepare_chat(request, read_request(request, "createChatCompletion"))
    if prepared.body.get("stream"):
        await stream_chat(request, prepared, lambda: open_sse(request))
        return None
    return json(await complete_chat(request, prepared))


async def stream_chat(request: Request, prepared: PreparedChat, open_sink: Any) -> None:
    events = TimedEvents(prepared.model.worker.generate(prepared.generation), request)
    formatter = ChatFormatter(prepared.model.model_id, prepared.generation.n, prepared.plan)
    await run_stream(request, events, formatter, open_sink, stream_settings(request, prepared.body))


async def complete_chat(request: Request, prepared: PreparedChat) -> dict[str, Any]:
    generation, plan = prepared.generation, prepared.plan
    events = TimedEvents(prepared.model.worker.generate(generation), request)
    result = await collect(events, generation.n, request.app.ctx.config.request_timeout)
    record_usage(request, result.prompt_tokens, result.completion_tokens)
    want_logprobs = generation.params.logprobs is not None
    choices = []
    for index, choice in enumerate(result.choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None}
        finish_reason = choice.finish_reason
        if plan:
            scanner = ToolCallScanner(plan, _call_id)
            scanner.feed(choice.text)
            scanner.finish()
            if scanner.result is not None:
                call = scanner.result
                message["content"] = None
                message["tool_calls"] = [_tool_call(call.call_id, call.name, call.arguments)]
                finish_reason = "tool_calls" if call.complete else finish_reason
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": oa.chat_logprobs(choice.logprobs) if want_logprobs else None,
                "finish_reason": finish_reason,
            }
        )
    return {
        "id": oa.new_id("chatcmpl"),
        "object": "chat.completion",
        "created": oa.now(),
        "model": prepared.model.model_id,
        "system_fingerprint": oa.SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": oa.usage(result.prompt_tokens, result.completion_tokens, result.cached_tokens),
    }


def _call_id() -> str:
    return oa.new_id("call")


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChatFormatter:
    """Chat chunks: a role chunk per choice, content deltas, one finish chunk per choice.

    With tools, each choice's text goes through a ToolCallScanner: a call becomes a
    `tool_calls` delta with its id and name, then one delta per argument fragment as it is
    generated; text (allowed by `tool_choice: "auto"`) stays content.
    """

    def __init__(self, model_id: str, n: int, plan: ToolPlan | None) -> None:
        self._chunks = oa.ChatChunks(model_id)
        self._n = n
        self._scanners = {i: ToolCallScanner(plan, _call_id) for i in range(n)} if plan else {}
        self._open = set(range(n))

    def opening(self) -> list[dict[str, Any]]:
        delta = {"role": "assistant", "content": ""}
        return [self._chunks.delta(i, dict(delta)) for i in range(self._n)]

    def chunks_for(self, event: GenerationEvent) -> list[dict[str, Any]]:
        if isinstance(event, TextDelta):
            scanner = self._scanners.get(event.index)
            if scanner is None:
                return [self._content(event.index, TextPiece(event.text, event.logprobs))]
            pieces = scanner.feed(event.text, event.logprobs)
            return [self._piece(event.index, piece) for piece in pieces]
        if isinstance(event, ChoiceFinished):
            self._open.discard(event.index)
            return self._finish(event.index, event.finish_reason)
        return []

    def _piece(self, index: int, piece: Piece) -> dict[str, Any]:
        if isinstance(piece, TextPiece):
            return self._content(index, piece)
        if isinstance(piece, CallStarted):
            call = {"index": 0, **_tool_call(piece.call_id, piece.name, "")}
            return self._chunks.delta(index, {"tool_calls": [call]})
        assert isinstance(piece, ArgumentsPiece)
        fragment = {"index": 0, "function": {"arguments": piece.text}}
        return self._chunks.delta(index, {"tool_calls": [fragment]})

    def _content(self, index: int, piece: TextPiece) -> dict[str, Any]:
        logprobs = oa.chat_logprobs(piece.logprobs) if piece.logprobs else None
        return self._chunks.delta(index, {"content": piece.text}, logprobs=logprobs)

    def _finish(self, index: int, finish_reason: str) -> list[dict[str, Any]]:
        scanner = self._scanners.get(index)
        chunks = []
        if scanner is not None:
            chunks = [self._piece(index, piece) for piece in scanner.finish()]
            if scanner.result is not None and scanner.result.complete:
                finish_reason = "tool_calls"
        return [*chunks, self._chunks.delta(index, {}, finish_reason=finish_reason)]

    def unfinished(self) -> list[dict[str, Any]]:
        return [chunk for i in sorted(self._open) for chunk in self._finish(i, "length")]

    def failed(self, message: str) -> list[dict[str, Any]]:
        return [stream_error(message)]

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> dict[str, Any]:
        return self._chunks.usage_chunk(prompt_tokens, completion_tokens, cached_tokens)
