"""The Responses API: POST /v1/responses (JSON and SSE), GET and DELETE /v1/responses/{id},
GET /v1/responses/{id}/input_items and POST /v1/responses/input_tokens (WebSocket mode:
responses_ws.py; compaction: responses_compact.py).

The same engine, prompt building, sampling, grammars, flow control and metrics as chat
completions: a response is a chat conversation rendered by the model's template, and its tool
calls go through the shared tool-call machinery.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic import Request, json
from sanic.response import HTTPResponse

from .. import openai_objects as oa
from ..engine import ChoiceFinished, GenerationDone, GenerationRequest, TextDelta
from ..errors import ApiError, invalid_request
from ..registry import ServedModel
from ..responses_input import (
    LOGPROBS,
    Conversation,
    ResponseLookup,
    new_id,
    read_conversation,
    text_format_grammar,
)
from ..responses_objects import ResponseEvents, ResponseShell, request_echo
from ..responses_store import ResponseStore, StoredResponse
from ..sinks import open_sse
from ..streaming import TimedEvents, collect, record_usage, run_stream
from ._common import (
    conversation_generation,
    conversation_tokens,
    read_request,
    resolve_model,
    stream_settings,
)

PAGE_DEFAULT, PAGE_MAX = 20, 100
Remember = Callable[[StoredResponse], None]
SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


@dataclass
class PreparedResponse:
    model: ServedModel
    body: dict[str, Any]
    conversation: Conversation
    generation: GenerationRequest


def _store(request: Request) -> ResponseStore:
    return request.app.ctx.responses


def _prompt(
    request: Request, body: dict[str, Any], lookup: ResponseLookup | None = None
) -> tuple[ServedModel, Conversation, list[int]]:
    model = resolve_model(request, body)
    conversation = read_conversation(body, lookup or _store(request))
    tokens = conversation_tokens(model, conversation.messages, conversation.plan, "input")
    return model, conversation, tokens


def prepare_response(
    request: Request, body: dict[str, Any], lookup: ResponseLookup | None = None
) -> PreparedResponse:
    """`lookup` finds `previous_response_id` (default: the store)."""
    model, conversation, tokens = _prompt(request, body, lookup)
    plan = conversation.plan
    want_logprobs = LOGPROBS in (body.get("include") or ())
    # Only what the Responses API defines reaches the sampler (no chat extras such as `stop`).
    sampling = {key: body.get(key) for key in SAMPLING}
    generation = conversation_generation(
        request,
        model,
        tokens,
        sampling,
        max_tokens=body.get("max_output_tokens"),
        grammar=plan.grammar if plan else text_format_grammar(body),
        logprobs=(body.get("top_logprobs") or 0) if want_logprobs else None,
    )
    return PreparedResponse(model, body, conversation, generation)


def response_events(
    request: Request, prepared: PreparedResponse, remember: Remember | None = None
) -> ResponseEvents:
    """The formatter of one response; `remember` also receives the finished response (a
    WebSocket keeps its latest one, stored or not)."""
    conversation = prepared.conversation
    echo = request_echo(prepared.body, prepared.model.model_id, conversation.tools)
    shell = ResponseShell(new_id("resp"), oa.now(), echo)

    def keep(final: dict[str, Any]) -> None:
        transcript = (*conversation.context, *final["output"])
        stored = StoredResponse(final, conversation.input_items, transcript)
        if prepared.body.get("store") is not False:
            _store(request).put(stored)
        if remember is not None:
            remember(stored)

    return ResponseEvents(shell, conversation.plan, keep)


async def create_response(request: Request) -> HTTPResponse | None:
    prepared = prepare_response(request, read_request(request, "createResponse"))
    if prepared.body.get("stream"):
        await _stream(request, prepared)
        return None
    return json(await _complete(request, prepared))


async def _complete(request: Request, prepared: PreparedResponse) -> dict[str, Any]:
    events = TimedEvents(prepared.model.worker.generate(prepared.generation), request)
    result = await collect(events, 1, request.app.ctx.config.request_timeout)
    record_usage(request, result.prompt_tokens, result.completion_tokens)
    # The collected generation goes through the stream's own formatter: one path, one answer.
    formatter = response_events(request, prepared)
    choice = result.choices[0]
    for event in (
        TextDelta(0, choice.text, choice.logprobs),
        ChoiceFinished(0, choice.finish_reason, result.completion_tokens),
        GenerationDone(result.prompt_tokens, result.completion_tokens, result.cached_tokens),
    ):
        formatter.chunks_for(event)
    assert formatter.final is not None
    return formatter.final


async def _stream(request: Request, prepared: PreparedResponse) -> None:
    async def open_sink() -> Any:
        return await open_sse(request, named_events=True)

    # Open Responses ends a stream with `data: [DONE]`; OpenAI's clients accept it.
    await stream_response(request, prepared, response_events(request, prepared), open_sink)


async def stream_response(
    request: Request,
    prepared: PreparedResponse,
    formatter: ResponseEvents,
    open_sink: Any,
    done_sentinel: bool = True,
) -> None:
    """Streams one response's events to the sink `open_sink` opens (SSE or a WebSocket)."""
    events = TimedEvents(prepared.model.worker.generate(prepared.generation), request)
    settings = dataclasses.replace(
        stream_settings(request, prepared.body), include_usage=False, done_sentinel=done_sentinel
    )
    await run_stream(request, events, formatter, open_sink, settings)


def _stored(request: Request, response_id: str) -> StoredResponse:
    stored = _store(request).get(response_id)
    if stored is None:
        raise ApiError(
            404, f"Response with id '{response_id}' not found.", code="response_not_found"
        )
    return stored


async def retrieve_response(request: Request, response_id: str) -> HTTPResponse:
    return json(_stored(request, response_id).response)


async def delete_response(request: Request, response_id: str) -> HTTPResponse:
    _stored(request, response_id)
    _store(request).delete(response_id)
    return json({"id": response_id, "object": "response.deleted", "deleted": True})


async def list_input_items(request: Request, response_id: str) -> HTTPResponse:
    items = list(_stored(request, response_id).input_items)
    limit = _limit(request.args.get("limit"))
    order = request.args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_request("order must be 'asc' or 'desc'", "order")
    if order == "desc":
        items.reverse()
    start = 0
    after = request.args.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise invalid_request(f"No input item with id '{after}' in this response.", "after")
        start = ids.index(after) + 1
    page = items[start : start + limit]
    return json(
        {
            "object": "list",
            "data": page,
            "has_more": start + limit < len(items),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return PAGE_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= PAGE_MAX:
        raise invalid_request(f"limit must be an integer from 1 to {PAGE_MAX}", "limit")
    return value


async def count_input_tokens(request: Request) -> HTTPResponse:
    body = read_request(request, "countResponseInputTokens")
    if not body.get("model"):
        registry = request.app.ctx.registry
        loaded = (m for m in registry if m.worker.load_error is None)
        body = {**body, "model": next(loaded, next(iter(registry))).model_id}
    _, _, tokens = _prompt(request, body)
    return json({"object": "response.input_tokens", "input_tokens": len(tokens)})
