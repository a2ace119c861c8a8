"""A bounded hand-over of events from a worker thread to one asyncio consumer."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

_CLOSED = object()


class StreamStalled(Exception):
    """The consumer stopped reading for longer than the stall timeout."""


class EventChannel:
    """Carries events from the model's worker thread to the request handler.

    The buffer is bounded by a semaphore the worker must acquire per event, so a consumer that
    reads slowly (a slow client socket) pauses its own generation instead of growing a queue.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, capacity: int, stall_timeout: float
    ) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._slots = threading.Semaphore(capacity)
        self._stall_timeout = stall_timeout
        self.cancelled = threading.Event()

    # -- worker side -------------------------------------------------------------------------

    def put(self, event: Any) -> bool:
        """Hands one event over; False once the consumer has gone away."""
        deadline = time.monotonic() + self._stall_timeout
        while not self._slots.acquire(timeout=0.02):
            if self.cancelled.is_set():
                return False
            if time.monotonic() > deadline:
                raise StreamStalled(f"client did not read for {self._stall_timeout:g} s")
        if self.cancelled.is_set():
            return False
        return self._deliver(event)

    def close(self, error: BaseException | None = None) -> None:
        """Ends the stream; an error is raised to the consumer instead of the end marker."""
        self._deliver(error if error is not None else _CLOSED)

    def _deliver(self, item: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: the server is shutting down
            self.cancelled.set()
            return False
        return True

    # -- consumer side -----------------------------------------------------------------------

    async def get(self) -> Any:
        """The next event; raises StopAsyncIteration at the end or the worker's error."""
        item = await self._queue.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        self._slots.release()
        return item

    def cancel(self) -> None:
        self.cancelled.set()
