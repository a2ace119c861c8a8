"""Events of one request, from the engine thread to the asyncio task that streams them."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .types import TextDelta


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class EventChannel:
    """A bounded hand-over that never blocks the engine.

    The engine appends events and asks `has_room()` before it puts the request's sequences in
    a step: a consumer that reads slowly (a slow client socket) leaves its sequences out of the
    batch until it catches up, while every other sequence keeps decoding. A consumer blocked on
    an empty channel is woken by `wake_all`, which the engine schedules on the event loop once
    per step for all such channels; one that is still busy finds the events when it comes
    back, at no cost to the engine thread.
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
        self.started = False  # the engine has woken this consumer before
        self.closed = False  # the engine sent the end (set on the engine thread)
        self.owner: Any = None  # the engine's record of the request

    # -- engine side ---------------------------------------------------------------------------

    def has_room(self) -> bool:
        return len(self._events) < self._capacity

    def put(self, event: Any) -> None:
        self._events.append(event)

    @property
    def backlog(self) -> int:
        """Events not yet read (an end stays there once reached, and counts as one)."""
        return len(self._events)

    @property
    def waiting(self) -> bool:
        """Whether the consumer is blocked on an empty channel (then it needs a wake)."""
        return self._waiter is not None

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
            # Published before this second look: an event the engine adds from now on sees the
            # waiter and wakes it; one added before is seen here.
            if self._events:
                self._waiter = None
                break
            try:
                await waiter
            finally:
                self._waiter = None
        events = self._events
        was_full = len(events) >= self._capacity
        item = events[0]
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        events.popleft()
        if type(item) is TextDelta:
            # Text of the same choice that queued up while the consumer was busy leaves as one
            # event: a reader that falls behind (the event loop, the socket) catches up with
            # fewer, larger chunks instead of falling further behind. Nothing is held back.
            while events and type(nxt := events[0]) is TextDelta and nxt.index == item.index:
                events.popleft()
                item = TextDelta(item.index, item.text + nxt.text, item.logprobs + nxt.logprobs)
        if was_full and len(events) < self._capacity:
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


def schedule_wake(channels: Iterable[EventChannel]) -> None:
    """From the engine thread: one loop callback per event loop for the channels whose
    consumer is waiting."""
    by_loop: dict[asyncio.AbstractEventLoop, list[EventChannel]] = {}
    for channel in channels:
        if channel.waiting:
            by_loop.setdefault(channel.loop, []).append(channel)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(wake_all, group)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            for channel in group:
                channel.cancelled = True


class Waker:
    """Wakes waiting consumers from the engine thread, at most once per `interval`.

    Each wake hands the interpreter lock to the event loop and back: on a model that decodes a
    token in 0.1 ms, waking per token cost more than the decode. Events that arrive within the
    interval go out together (a consumer sends them as one event); a request's first events,
    and everything when the engine goes idle, are never held back.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._pending: set[EventChannel] = set()
        self._last = 0.0

    def add(self, channels: Iterable[EventChannel]) -> None:
        for channel in channels:
            if not channel.started:
                channel.started = True
                self._last = 0.0  # a first token goes out at once
            self._pending.add(channel)

    def flush(self, *, now: float, force: bool = False) -> None:
        if not self._pending or (not force and now - self._last < self._interval):
            return
        pending, self._pending = self._pending, set()
        self._last = now
        schedule_wake(pending)
