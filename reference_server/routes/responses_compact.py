"""POST /v1/responses/compact: a conversation (input items and/or `previous_response_id`)
compacted into a window the next request accepts (see responses_compaction.py for what
compaction means on a local model)."""

from __future__ import annotations

from sanic import Request, json
from sanic.response import HTTPResponse

from .. import openai_objects as oa
from ..responses_compaction import SUMMARY_MAX_TOKENS, SUMMARY_REQUEST, compaction_item
from ..responses_input import new_id, read_context, to_messages
from ..responses_objects import usage
from ..streaming import TimedEvents, collect, record_usage
from ._common import conversation_generation, conversation_tokens, read_request, resolve_model


async def compact_response(request: Request) -> HTTPResponse:
    body = read_request(request, "compactResponse")
    model = resolve_model(request, body)
    context = read_context(body, request.app.ctx.responses)
    messages = to_messages(body.get("instructions"), context)
    messages.append({"role": "user", "content": SUMMARY_REQUEST})
    tokens = conversation_tokens(model, messages, None, "input")
    # Greedy: the same conversation compacts to the same summary.
    generation = conversation_generation(
        request,
        model,
        tokens,
        {"temperature": 0.0},
        max_tokens=SUMMARY_MAX_TOKENS,
        grammar=None,
        logprobs=None,
    )
    events = TimedEvents(model.worker.generate(generation), request)
    result = await collect(events, 1, request.app.ctx.config.request_timeout)
    record_usage(request, result.prompt_tokens, result.completion_tokens)
    kept = [item for item in context if item["type"] == "message" and item["role"] == "user"]
    summary = result.choices[0].text.strip()
    return json(
        {
            "id": new_id("resp"),
            "object": "response.compaction",
            "created_at": oa.now(),
            "output": [*kept, compaction_item(new_id("cmp"), summary)],
            "usage": usage(result.prompt_tokens, result.completion_tokens, result.cached_tokens),
        }
    )
