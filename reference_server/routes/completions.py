"""POST /v1/completions (the legacy text completions API, and its WebSocket twin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sanic import Request, json
from sanic.response import HTTPResponse

from .. import openai_objects as oa
from ..engine import ChoiceFinished, GenerationDone, GenerationEvent, GenerationRequest, TextDelta
from ..errors import invalid_request
from ..params import completion_logprobs, sampling_params
from ..registry import ServedModel
from ..sinks import open_sse
from ..streaming import TimedEvents, collect, record_usage, run_stream
from ._common import (
    check_budget,
    check_prompt_fits,
    check_token_ids,
    read_request,
    resolve_model,
    stream_settings,
)

DEFAULT_MAX_TOKENS = 16  # OpenAI's documented default for this endpoint


@dataclass
class PreparedCompletion:
    model: ServedModel
    prompts: list[str]
    generations: list[GenerationRequest]
    n: int
    echo: bool
    logprobs: int | None
    body: dict[str, Any]

    @property
    def choice_count(self) -> int:
        return len(self.generations) * self.n


def prepare_completion(request: Request, body: dict[str, Any]) -> PreparedCompletion:
    model = resolve_model(request, body)
    prompts = _prompts(model, body.get("prompt", ""))
    n = body.get("n") or 1
    best_of = body.get("best_of")
    if best_of and best_of < n:
        raise invalid_request("best_of must be greater than or equal to n", "best_of")
    logprobs = completion_logprobs(body)
    requested = body.get("max_tokens") or DEFAULT_MAX_TOKENS
    generations = []
    for _, tokens in prompts:
        check_prompt_fits(model, tokens, "prompt")
        max_tokens = min(requested, model.worker.n_ctx - len(tokens))
        check_budget(request, n, len(tokens), max_tokens)
        params = sampling_params(
            body, max_tokens=max_tokens, logprobs=logprobs, n_vocab=model.worker.n_vocab
        )
        generations.append(GenerationRequest(tuple(tokens), params, n=n))
    return PreparedCompletion(
        model, [text for text, _ in prompts], generations, n, bool(body.get("echo")), logprobs, body
    )


async def completions(request: Request) -> HTTPResponse | None:
    prepared = prepare_completion(request, read_request(request, "createCompletion"))
    if prepared.body.get("stream"):
        await stream_completion(request, prepared, lambda: open_sse(request))
        return None
    return json(await complete_text(request, prepared))


def _events(request: Request, prepared: PreparedCompletion) -> AsyncIterator[GenerationEvent]:
    return TimedEvents(_chained(prepared), request)


async def _chained(prepared: PreparedCompletion) -> AsyncIterator[GenerationEvent]:
    """The generations of every prompt in turn, with choice indexes numbered across prompts."""
    worker = prepared.model.worker
    prompt_tokens = completion_tokens = 0
    for prompt_index, generation in enumerate(prepared.generations):
        offset = prompt_index * prepared.n
        stream = worker.generate(generation)
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    yield TextDelta(event.index + offset, event.text, event.logprobs)
                elif isinstance(event, ChoiceFinished):
                    yield ChoiceFinished(
                        event.index + offset, event.finish_reason, event.completion_tokens
                    )
                elif isinstance(event, GenerationDone):
                    prompt_tokens += event.prompt_tokens
                    completion_tokens += event.completion_tokens
        finally:
            await stream.aclose()
    yield GenerationDone(prompt_tokens, completion_tokens)


async def complete_text(request: Request, prepared: PreparedCompletion) -> dict[str, Any]:
    timeout = request.app.ctx.config.request_timeout
    result = await collect(_events(request, prepared), prepared.choice_count, timeout)
    record_usage(request, result.prompt_tokens, result.completion_tokens)
    choices = []
    for index, choice in enumerate(result.choices):
        prefix = prepared.prompts[index // prepared.n] if prepared.echo else ""
        logprobs = None
        if prepared.logprobs is not None:
            logprobs = oa.completion_logprobs(choice.logprobs, len(prefix))
        choices.append(
            {
                "index": index,
                "text": prefix + choice.text,
                "logprobs": logprobs,
                "finish_reason": choice.finish_reason,
            }
        )
    return {
        "id": oa.new_id("cmpl"),
        "object": "text_completion",
        "created": oa.now(),
        "model": prepared.model.model_id,
        "system_fingerprint": oa.SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": oa.usage(result.prompt_tokens, result.completion_tokens),
    }


async def stream_completion(request: Request, prepared: PreparedCompletion, open_sink: Any) -> None:
    formatter = CompletionFormatter(prepared)
    settings = stream_settings(request, prepared.body)
    await run_stream(request, _events(request, prepared), formatter, open_sink, settings)


class CompletionFormatter:
    """Completion chunks; the usage of every prompt is summed into one usage chunk."""

    def __init__(self, prepared: PreparedCompletion) -> None:
        self._prepared = prepared
        self._chunks = oa.CompletionChunks(prepared.model.model_id)
        self._open = set(range(prepared.choice_count))

    def opening(self) -> list[dict[str, Any]]:
        if not self._prepared.echo:
            return []
        n = self._prepared.n
        return [
            self._chunks.text(i, self._prepared.prompts[i // n])
            for i in range(self._prepared.choice_count)
        ]

    def chunks_for(self, event: GenerationEvent) -> list[dict[str, Any]]:
        if isinstance(event, TextDelta):
            logprobs = oa.completion_logprobs(event.logprobs, 0) if event.logprobs else None
            return [self._chunks.text(event.index, event.text, logprobs=logprobs)]
        if isinstance(event, ChoiceFinished):
            self._open.discard(event.index)
            return [self._chunks.text(event.index, "", event.finish_reason)]
        return []

    def unfinished(self) -> list[dict[str, Any]]:
        return [self._chunks.text(i, "", "length") for i in sorted(self._open)]

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        return self._chunks.usage_chunk(prompt_tokens, completion_tokens)


def _prompts(model: ServedModel, prompt: Any) -> list[tuple[str, list[int]]]:
    """Every prompt form OpenAI accepts, as (text, tokens) pairs."""
    worker = model.worker
    if prompt is None or isinstance(prompt, str):
        return [(prompt or "", worker.tokenize(prompt or ""))]
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        check_token_ids(model, prompt, "prompt")
        return [(worker.detokenize(prompt), list(prompt))]
    items = []
    for i, item in enumerate(prompt or [""]):
        if isinstance(item, str):
            items.append((item, worker.tokenize(item)))
        else:
            check_token_ids(model, item, f"prompt[{i}]")
            items.append((worker.detokenize(item), list(item)))
    return items
