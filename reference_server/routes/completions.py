"""POST /v1/completions (the legacy text completions API, and its WebSocket twin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sanic import Request, json
from sanic.response import HTTPResponse

from .. import openai_objects as oa
from ..engine import (
    ChoiceFinished,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    GenerationStream,
    TextDelta,
)
from ..errors import invalid_request
from ..params import completion_logprobs, sampling_params
from ..registry import ServedModel
from ..sinks import open_sse
from ..streaming import TimedEvents, collect, record_usage, run_stream, stream_error
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
    return TimedEvents(_Chained(prepared), request)


class _Chained:
    """The generations of every prompt in turn, with choice indexes numbered across prompts
    and one GenerationDone with the summed usage at the end. Cancel-safe like each stream."""

    def __init__(self, prepared: PreparedCompletion) -> None:
        self._prepared = prepared
        self._next_prompt = 0
        self._current: GenerationStream | None = None
        self._offset = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._cached_tokens = 0
        self._done = False

    def __aiter__(self) -> _Chained:
        return self

    async def __anext__(self) -> GenerationEvent:
        while True:
            if self._current is None:
                if self._next_prompt < len(self._prepared.generations):
                    generation = self._prepared.generations[self._next_prompt]
                    self._offset = self._next_prompt * self._prepared.n
                    self._next_prompt += 1
                    self._current = self._prepared.model.worker.generate(generation)
                elif not self._done:
                    self._done = True
                    return GenerationDone(
                        self._prompt_tokens, self._completion_tokens, self._cached_tokens
                    )
                else:
                    raise StopAsyncIteration
            try:
                event = await self._current.__anext__()
            except StopAsyncIteration:
                self._current = None
                continue
            if isinstance(event, TextDelta):
                return TextDelta(event.index + self._offset, event.text, event.logprobs)
            if isinstance(event, ChoiceFinished):
                return ChoiceFinished(
                    event.index + self._offset, event.finish_reason, event.completion_tokens
                )
            if isinstance(event, GenerationDone):
                self._prompt_tokens += event.prompt_tokens
                self._completion_tokens += event.completion_tokens
                self._cached_tokens += event.cached_tokens

    async def aclose(self) -> None:
        if self._current is not None:
            await self._current.aclose()
        self._done = True
        self._next_prompt = len(self._prepared.generations)


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
        "usage": oa.usage(result.prompt_tokens, result.completion_tokens, result.cached_tokens),
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

    def failed(self, message: str) -> list[dict[str, Any]]:
        return [stream_error(message)]

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> dict[str, Any]:
        return self._chunks.usage_chunk(prompt_tokens, completion_tokens, cached_tokens)


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
