"""Stored responses: a bounded, in-memory store with least-recently-used eviction.

Each entry keeps the response object as it was returned, the input items of its request (for
`GET /v1/responses/{id}/input_items`) and its transcript: the whole conversation up to and
including its output, which a later request continues with `previous_response_id`. Transcripts
of a chain share their item objects, so a long chain costs references, not copies; every item is
treated as read-only once stored. All access happens on the event loop: no locking.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: dict[str, Any]
    input_items: tuple[Item, ...]
    transcript: tuple[Item, ...]  # earlier context + this request's input + this output


class ResponseStore:
    """At most `capacity` responses; storing one more evicts the least recently used.

    Reading a response (retrieving it, listing its input items, continuing from it) counts as a
    use. A capacity of 0 keeps nothing.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, stored: StoredResponse) -> None:
        if self.capacity == 0:
            return
        response_id = stored.response["id"]
        self._entries[response_id] = stored
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            self.evicted += 1

    def get(self, response_id: str) -> StoredResponse | None:
        stored = self._entries.get(response_id)
        if stored is not None:
            self._entries.move_to_end(response_id)
        return stored

    def delete(self, response_id: str) -> bool:
        return self._entries.pop(response_id, None) is not None
