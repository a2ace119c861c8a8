"""Driving a generation: to completion, or as a stream with keep-alive, batching and a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sanic import Request

from . import accounting
from .engine import (
    ChoiceFinished,
    EngineNotReady,
    GenerationDone,
    GenerationEvent,
    QueueFull,
    StreamStalled,
    TextDelta,
    TokenLogprob,
)
from .errors import ApiError, InferenceFailed
from .sinks import ClientGone


@dataclass
class ChoiceResult:
    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str = "length"


@dataclass
class Collected:
    choices: list[ChoiceResult]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


class TimedEvents:
    """An engine stream that reports engine failures as InferenceFailed and times the first text."""

    def __init__(self, events: AsyncIterator[GenerationEvent], request: Request) -> None:
        self._events = events
        self._request = request
        self._started = time.monotonic()
        self.ttft: float | None = None

    def __aiter__(self) -> TimedEvents:
        return self

    async def __anext__(self) -> GenerationEvent:
        try:
            event = await self._events.__anext__()
        except (StopAsyncIteration, InferenceFailed, QueueFull, EngineNotReady, StreamStalled):
            raise
        except Exception as exc:
            raise InferenceFailed(str(exc) or type(exc).__name__) from exc
        if self.ttft is None and isinstance(event, TextDelta) and event.text:
            self.ttft = time.monotonic() - self._started
            app = self._request.app
            app.ctx.metrics.observe_ttft(self.ttft, model=self._request.ctx.model_id)
        return event

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]


def timeout_error(seconds: float) -> ApiError:
    return ApiError(
        504,
        f"The request did not finish within the server's {seconds:g} s request timeout.",
        code="timeout",
        error_type="server_error",
    )


async def collect(events: AsyncIterator[GenerationEvent], n: int, timeout: float) -> Collected:
    """Every event of a non-streamed generation; 504 once the request deadline passes."""
    result = Collected([ChoiceResult() for _ in range(n)])

    async def drain() -> None:
        async for event in events:
            if isinstance(event, TextDelta):
                choice = result.choices[event.index]
                choice.text += event.text
                choice.logprobs.extend(event.logprobs)
            elif isinstance(event, ChoiceFinished):
                result.choices[event.index].finish_reason = event.finish_reason
            elif isinstance(event, GenerationDone):
                result.prompt_tokens += event.prompt_tokens
                result.completion_tokens += event.completion_tokens
                result.cached_tokens += event.cached_tokens

    try:
        async with asyncio.timeout(timeout):
            await drain()
    except TimeoutError:
        raise timeout_error(timeout) from None
    finally:
        await events.aclose()
    return result


def record_usage(request: Request, prompt_tokens: int, completion_tokens: int) -> None:
    metrics = request.app.ctx.metrics
    model = request.ctx.model_id
    metrics.inc("inferno_prompt_tokens_total", prompt_tokens, model=model)
    metrics.inc("inferno_completion_tokens_total", completion_tokens, model=model)


# -- streams ---------------------------------------------------------------------------------


class StreamSink(Protocol):
    """Where stream chunks go: an SSE response or a WebSocket."""

    async def send(self, payload: dict[str, Any]) -> None: ...

    async def comment(self, text: str) -> None: ...

    async def finish(self, done: bool = True) -> None: ...

    def abort(self) -> None: ...


class ChunkFormatter(Protocol):
    """Turns engine events into the API's chunk objects (chat, completions or Responses)."""

    def opening(self) -> list[dict[str, Any]]: ...

    def chunks_for(self, event: GenerationEvent) -> list[dict[str, Any]]: ...

    def unfinished(self) -> list[dict[str, Any]]: ...

    def failed(self, message: str) -> list[dict[str, Any]]: ...

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class StreamSettings:
    include_usage: bool
    timeout: float
    keepalive: float
    batch_ms: float
    done_sentinel: bool = True  # end with `data: [DONE]` (chat, completions; not Responses)


_NOTHING = object()


class _Pump:
    """Reads a cancel-safe event stream with a timeout per read."""

    def __init__(self, events: AsyncIterator[GenerationEvent]) -> None:
        self._events = events

    async def next(self, timeout: float | None) -> GenerationEvent | type[TimeoutError] | None:
        # The event streams are cancel-safe (see GenerationStream), so a timed-out read
        # loses nothing and needs no task of its own: this runs once per token.
        try:
            async with asyncio.timeout(timeout):
                return await anext(self._events, None)
        except TimeoutError:
            return TimeoutError

    async def close(self) -> None:
        await self._events.aclose()


async def run_stream(
    request: Request,
    events: AsyncIterator[GenerationEvent],
    formatter: ChunkFormatter,
    open_sink: Any,
    settings: StreamSettings,
) -> None:
    """Streams one generation.

    Until the first event arrives nothing is sent, so a failure is still a proper HTTP error;
    if the wait outlasts the keep-alive interval the stream opens and comments keep it alive.
    """
    pump = _Pump(events)
    deadline = time.monotonic() + settings.timeout
    sink: StreamSink | None = None
    # How the stream ended, once it has opened (before that, errors are plain HTTP answers).
    outcome = accounting.FAILED
    try:
        while True:
            left = deadline - time.monotonic()
            first = await pump.next(max(0.0, min(settings.keepalive, left)))
            if first is not TimeoutError:
                break
            # A wait that ran to the deadline has reached it, even when the loop's timer fired a
            # hair early: no keep-alive may open the stream after its last moment.
            if left <= settings.keepalive or time.monotonic() >= deadline:
                if sink is None:
                    raise timeout_error(settings.timeout)
                await _end_on_timeout(sink, formatter, settings)
                outcome = accounting.COMPLETED
                return
            if sink is None:
                sink = await open_sink()
            await sink.comment("keep-alive")
        if sink is None:
            sink = await open_sink()
        for chunk in formatter.opening():
            await sink.send(chunk)
        outcome = await _forward(request, pump, first, sink, formatter, settings, deadline)
    except ClientGone:
        outcome = accounting.CANCELLED
        return  # the connection is already dropped; the generation stops in `finally`
    except StreamStalled:
        if sink is None:
            raise
        outcome = accounting.CANCELLED  # a reader that stopped reading
        sink.abort()
    except asyncio.CancelledError:
        outcome = accounting.CANCELLED  # the client went away
        raise
    finally:
        await pump.close()
        if sink is not None:
            accounting.finish(request, outcome)


async def _forward(
    request: Request,
    pump: _Pump,
    event: Any,
    sink: StreamSink,
    formatter: ChunkFormatter,
    settings: StreamSettings,
    deadline: float,
) -> str:
    """Sends the events; returns the outcome (completed, or failed after an error event)."""
    batch_s = settings.batch_ms / 1000.0
    first_text_sent = False  # batching never delays the first token
    try:
        while event is not None:
            held: Any = _NOTHING
            if isinstance(event, TextDelta) and event.text:
                if batch_s > 0 and first_text_sent:
                    event, held = await _coalesce(pump, event, batch_s)
                first_text_sent = True
            for chunk in formatter.chunks_for(event):
                await sink.send(chunk)
            if isinstance(event, GenerationDone):
                record_usage(request, event.prompt_tokens, event.completion_tokens)
                if settings.include_usage:
                    usage = formatter.usage_chunk(
                        event.prompt_tokens, event.completion_tokens, event.cached_tokens
                    )
                    await sink.send(usage)
            if held is not _NOTHING:
                event = held
                continue
            remaining = deadline - time.monotonic()
            event = await pump.next(max(0.0, remaining))
            if event is TimeoutError:
                await _end_on_timeout(sink, formatter, settings)
                return accounting.COMPLETED
    except InferenceFailed as exc:
        # No [DONE] after a failure: a client must not mistake the stream for a complete one.
        for chunk in formatter.failed(str(exc)):
            await sink.send(chunk)
        await sink.finish(done=False)
        return accounting.FAILED
    await sink.finish(settings.done_sentinel)
    return accounting.COMPLETED


async def _coalesce(pump: _Pump, first: TextDelta, window: float) -> tuple[TextDelta, Any]:
    """Merges deltas of one choice that arrive within `window` seconds of the first one.

    Returns the merged delta and the event that ended the window early (or `_NOTHING`).
    """
    merged = TextDelta(first.index, first.text, list(first.logprobs))
    until = time.monotonic() + window
    while (remaining := until - time.monotonic()) > 0:
        event = await pump.next(remaining)
        if event is TimeoutError:
            break
        if isinstance(event, TextDelta) and event.index == merged.index:
            merged.text += event.text
            merged.logprobs.extend(event.logprobs)
            continue
        return merged, event
    return merged, _NOTHING


async def _end_on_timeout(
    sink: StreamSink, formatter: ChunkFormatter, settings: StreamSettings
) -> None:
    """A stream past its deadline ends cleanly: finish chunks ("length"), a comment, [DONE]."""
    await sink.comment(f"request timeout after {settings.timeout:g} s")
    for chunk in formatter.unfinished():
        await sink.send(chunk)
    await sink.finish(settings.done_sentinel)


def stream_error(message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"inference failed: {message}",
            "type": "server_error",
            "param": None,
            "code": "inference_failed",
        }
    }
