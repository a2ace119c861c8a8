"""Events of one request, from the engine thread to the asyncio task that streams them."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class EventChannel:
    """A bounded hand-over that never blocks the engine.

    The engine appends events and asks `has_room()` before it puts the request's sequences in
    a step: a consumer that reads slowly (a slow client socket) leaves its sequences out of the
    batch until it catches up, while every other sequence keeps decoding. The consumer is woken
    by `wake_all`, which the engine schedules on the event loop once per step for every channel
    that received events.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, capacity: int, on_room: Callable[[], None]
    ) -> None:
        self.loop = loop
        self._events: deque[Any] = deque()
        self._capacity = capacity
        self._on_room = on_room
        self._waiter: asyncio.Future[None] | None = None
        self.cancelled = False  # the consumer went away (set on the event loop)
        self.closed = False  # the engine sent the end (set on the engine thread)
        self.owner: Any = None  # the engine's record of the request

    # -- engine side ---------------------------------------------------------------------------

    def has_room(self) -> bool:
        return len(self._events) < self._capacity

    def put(self, event: Any) -> None:
        self._events.append(event)

    def close(self, error: BaseException | None = None) -> None:
        """Ends the stream; an error is raised to the consumer instead of the end."""
        if not self.closed:
            self.closed = True
            self._events.append(_End(error))

    # -- consumer side -------------------------------------------------------------------------

    async def get(self) -> Any:
        """The next event; StopAsyncIteration at the end, or the engine's error."""
        while not self._events:
            waiter = self.loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        was_full = len(self._events) >= self._capacity
        item = self._events[0]
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        self._events.popleft()
        if was_full and len(self._events) < self._capacity:
            self._on_room()
        return item

    def cancel(self) -> None:
        self.cancelled = True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def wake_all(channels: Iterable[EventChannel]) -> None:
    """Runs on the event loop: wakes every consumer waiting on one of `channels`."""
    for channel in channels:
        channel._wake()


def schedule_wake(channels: set[EventChannel]) -> None:
    """From the engine thread: one loop callback per event loop for all channels of a step."""
    by_loop: dict[asyncio.AbstractEventLoop, list[EventChannel]] = {}
    for channel in channels:
        by_loop.setdefault(channel.loop, []).append(channel)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(wake_all, group)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            for channel in group:
                channel.cancelled = True
