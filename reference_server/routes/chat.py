"""POST /v1/chat/completions (and its WebSocket twin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sanic import Request, json
from sanic.response import HTTPResponse

from .. import openai_objects as oa
from ..engine import ChoiceFinished, GenerationEvent, GenerationRequest, TextDelta
from ..params import (
    ToolPlan,
    chat_logprobs,
    parse_tool_call,
    response_format_grammar,
    sampling_params,
    tool_plan,
)
from ..registry import ServedModel
from ..sinks import open_sse
from ..streaming import TimedEvents, collect, record_usage, run_stream
from ._common import (
    check_budget,
    check_prompt_fits,
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
    plan = tool_plan(body)
    prompt = model.chat.render(body["messages"], tools=body.get("tools") if plan else None)
    tokens = model.worker.tokenize(prompt, add_bos=False, special=True)
    check_prompt_fits(model, tokens, "messages")
    room = model.worker.n_ctx - len(tokens)
    requested = body.get("max_completion_tokens") or body.get("max_tokens") or room
    max_tokens = min(requested, room)
    n = body.get("n") or 1
    check_budget(request, n, len(tokens), max_tokens)
    grammar = plan.grammar if plan else response_format_grammar(body)
    params = sampling_params(
        body,
        max_tokens=max_tokens,
        logprobs=chat_logprobs(body),
        n_vocab=model.worker.n_vocab,
        grammar=grammar,
    )
    return PreparedChat(model, GenerationRequest(tuple(tokens), params, n=n), plan, body)


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
        call = parse_tool_call(choice.text, plan) if plan else None
        if call:
            message["content"] = None
            message["tool_calls"] = [_tool_call(*call)]
            finish_reason = "tool_calls"
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


def _tool_call(name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": oa.new_id("call"),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


class ChatFormatter:
    """Chat chunks: a role chunk per choice, content deltas, one finish chunk per choice.

    With a forced tool call the constrained JSON is held back and sent as one `tool_calls`
    delta once it parses, never as content.
    """

    def __init__(self, model_id: str, n: int, plan: ToolPlan | None) -> None:
        self._chunks = oa.ChatChunks(model_id)
        self._n = n
        self._plan = plan
        self._held: dict[int, str] = {}
        self._open = set(range(n))

    def opening(self) -> list[dict[str, Any]]:
        delta = {"role": "assistant", "content": ""}
        return [self._chunks.delta(i, dict(delta)) for i in range(self._n)]

    def chunks_for(self, event: GenerationEvent) -> list[dict[str, Any]]:
        if isinstance(event, TextDelta):
            if self._plan:
                self._held[event.index] = self._held.get(event.index, "") + event.text
                return []
            logprobs = oa.chat_logprobs(event.logprobs) if event.logprobs else None
            return [self._chunks.delta(event.index, {"content": event.text}, logprobs=logprobs)]
        if isinstance(event, ChoiceFinished):
            self._open.discard(event.index)
            return [self._finish(event.index, event.finish_reason)]
        return []

    def _finish(self, index: int, finish_reason: str) -> dict[str, Any]:
        if not self._plan:
            return self._chunks.delta(index, {}, finish_reason=finish_reason)
        text = self._held.pop(index, "")
        call = parse_tool_call(text, self._plan)
        if call is None:
            return self._chunks.delta(index, {"content": text}, finish_reason=finish_reason)
        delta = {"tool_calls": [{"index": 0, **_tool_call(*call)}]}
        return self._chunks.delta(index, delta, finish_reason="tool_calls")

    def unfinished(self) -> list[dict[str, Any]]:
        return [self._finish(i, "length") for i in sorted(self._open)]

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> dict[str, Any]:
        return self._chunks.usage_chunk(prompt_tokens, completion_tokens, cached_tokens)
