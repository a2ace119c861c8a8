"""What every generation route does before it reaches the engine."""

from __future__ import annotations

from typing import Any

from sanic import Request

from ..engine import GenerationRequest
from ..errors import context_length_exceeded, invalid_request
from ..params import sampling_params
from ..registry import ServedModel
from ..streaming import StreamSettings
from ..tool_calls import ToolPlan
from ..validation import check_stream_options, parse_json_body, validate_request


def read_request(request: Request, operation_id: str) -> dict[str, Any]:
    body = parse_json_body(request.body, request.headers.get("content-type"))
    body = validate_request(operation_id, body, request.app.ctx.config.validation_profile)
    check_stream_options(body)
    return body


def resolve_model(request: Request, body: dict[str, Any]) -> ServedModel:
    model = request.app.ctx.registry.get(body["model"])
    request.ctx.model_id = model.model_id
    return model


def check_prompt_fits(model: ServedModel, tokens: list[int], param: str) -> None:
    n_ctx = model.worker.n_ctx
    if len(tokens) >= n_ctx:
        raise context_length_exceeded(len(tokens), n_ctx, param)


def conversation_tokens(
    model: ServedModel, messages: list[dict[str, Any]], plan: ToolPlan | None, param: str
) -> list[int]:
    """The prompt tokens of a conversation (chat messages), refused when they fill the context."""
    prompt = model.chat.render(messages, plan, param=param)
    tokens = model.worker.tokenize(prompt, add_bos=False, special=True)
    check_prompt_fits(model, tokens, param)
    return tokens


def conversation_generation(
    request: Request,
    model: ServedModel,
    tokens: list[int],
    body: dict[str, Any],
    *,
    max_tokens: int | None,
    grammar: str | None,
    logprobs: int | None,
    n: int = 1,
) -> GenerationRequest:
    """What the engine runs for a prompt: the token limit clamped to the room left in the
    context, the budget checked, sampling read from the body (chat and Responses alike)."""
    room = model.worker.n_ctx - len(tokens)
    limit = min(max_tokens or room, room)
    check_budget(request, n, len(tokens), limit)
    params = sampling_params(
        body, max_tokens=limit, logprobs=logprobs, n_vocab=model.worker.n_vocab, grammar=grammar
    )
    return GenerationRequest(tuple(tokens), params, n=n)


def check_token_ids(model: ServedModel, tokens: list[int], param: str) -> None:
    n_vocab = model.worker.n_vocab
    if not tokens:
        raise invalid_request("token id input must not be empty", param)
    bad = next((t for t in tokens if not 0 <= t < n_vocab), None)
    if bad is not None:
        raise invalid_request(f"token id {bad} is outside the vocabulary (0..{n_vocab - 1})", param)


def check_budget(request: Request, n: int, prompt_tokens: int, max_tokens: int) -> None:
    """Refuses work the server is not configured to hold (507), before anything starts."""
    from ..errors import ApiError

    limit = request.app.ctx.config.max_budget_tokens
    budget = n * (prompt_tokens + max_tokens)
    if limit and budget > limit:
        raise ApiError(
            507,
            f"insufficient memory: the request needs a budget of {budget} tokens "
            f"(n × (prompt + max_tokens)), the server holds {limit}",
            code="insufficient_memory",
            error_type="server_error",
        )


def stream_settings(request: Request, body: dict[str, Any]) -> StreamSettings:
    config = request.app.ctx.config
    return StreamSettings(
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        timeout=config.request_timeout,
        keepalive=config.sse_keepalive_s,
        batch_ms=config.stream_batch_ms,
    )
