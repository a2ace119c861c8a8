"""The stream a `BatchingEngine.generate` call returns."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ._channel import EventChannel
from .types import GenerationEvent, GenerationRequest

if TYPE_CHECKING:
    from ._engine import BatchingEngine


class EngineStream:
    """A `GenerationStream`: a plain object rather than an async generator, so that a read
    cancelled by a timeout (keep-alive tick, deadline) does not end the generation."""

    def __init__(self, engine: BatchingEngine, request: GenerationRequest) -> None:
        self._engine = engine
        self._request = request
        self._channel: EventChannel | None = None
        self._finished = False

    def __aiter__(self) -> EngineStream:
        return self

    async def __anext__(self) -> GenerationEvent:
        if self._finished:
            raise StopAsyncIteration
        if self._channel is None:
            self._channel = self._engine._submit(self._request)
        try:
            return await self._channel.get()
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._finished = True  # the end, or the engine's error: nothing left to stop
            raise

    async def aclose(self) -> None:
        if self._channel is not None and not self._finished:
            self._engine._abandon(self._channel)
        self._finished = True
