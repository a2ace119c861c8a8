"""Endpoint families, and the watch that stops waiting on a family that no longer answers.

A server whose routes never finish their headers makes every check wait out its whole deadline:
a run of the extended preset would take hours and report a hundred unrelated rules. After
`EXPIRIES_TO_GIVE_UP` deadline expiries in a row on one family (no answer in between), the
family is *unresponsive*: its remaining exchanges are refused at once, and each check that
needed one fails under the one rule `endpoint.unresponsive`. A family of the same server that
has not answered once in the run (on that route: listing, or one object) is declared on its
first expiry when another family already was: the server is known to hang, so one more wait is
all the evidence worth paying for.

Only deadline expiries before the response headers count: a stream that stalls mid-body has
answered, and its own rules (`sse.endless`) say what broke.

That one more wait is short: on a server known to hang, a route that has not answered once in
the run gets `SUSPECT_WAIT_S` (at most the full deadline) for its answer's headers. A correct
server never gets here (a family of it would have had to hang twice at the full deadline), and
a hung one is diagnosed within two minutes at the default deadline, not one full wait per
family. The body, once headers came, keeps the full deadline.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from compliance.rules import BREAKS_CLIENTS, declare

UNRESPONSIVE = declare(
    "endpoint.unresponsive",
    BREAKS_CLIENTS,
    "an endpoint answers within the deadline; after two expiries in a row its checks fail at once",
)
EXPIRIES_TO_GIVE_UP = 2
SUSPECT_WAIT_S = 5.0
FAMILIES = ("chat", "completions", "embeddings", "responses", "models")
_PATHS = {
    "chat/completions": "chat",
    "completions": "completions",
    "embeddings": "embeddings",
    "responses": "responses",
    "models": "models",
}


def family_of(url: str) -> str:
    """`chat` for .../v1/chat/completions, `responses` for .../v1/responses/{id}, …"""
    return _route(url)[0]


def _route(url: str) -> tuple[str, bool]:
    """(family, whether the path names one object of it, as .../v1/models/{id} does)."""
    path = urlsplit(url).path.strip("/")
    path = path.split("v1/", 1)[1] if "v1/" in path else path
    for prefix, family in _PATHS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return family, path != prefix
    return "other", False


class EndpointWatch:
    """Consecutive deadline expiries per (server, family); off until a suite run enables it, so
    tests that time out on purpose against one server keep waiting every time."""

    def __init__(self) -> None:
        self.enabled = False
        self._lock = threading.Lock()
        self._streak: dict[tuple[str, str], int] = {}
        # Routes that answered once: (server, family, names one object). Listing the models may
        # answer while reading one model hangs.
        self._answered: set[tuple[str, str, bool]] = set()
        self._unresponsive: dict[tuple[str, str], int] = {}

    def refusal(self, url: str) -> str | None:
        """Why an exchange to `url` is not sent, or None to send it."""
        key = _key(url)
        with self._lock:
            expiries = self._unresponsive.get(key) if self.enabled else None
        if expiries is None:
            return None
        return (
            f"not sent: the {key[1]} endpoints of {key[0]} let {expiries} exchange(s) in a row "
            "pass their deadline without an answer; the suite stopped waiting on them"
        )

    def headers_wait(self, url: str, full: float) -> float:
        """Seconds to wait for the headers of an exchange to `url` (`full`: its deadline)."""
        route = _answer_key(url)
        with self._lock:
            suspect = self.enabled and route not in self._answered and self._hangs(route[0])
        return min(full, SUSPECT_WAIT_S) if suspect else full

    def answered(self, url: str) -> None:
        with self._lock:
            self._streak[_key(url)] = 0
            self._answered.add(_answer_key(url))

    def expired(self, url: str) -> None:
        if not self.enabled:
            return
        key = _key(url)
        with self._lock:
            streak = self._streak.get(key, 0) + 1
            self._streak[key] = streak
            server_hangs = self._hangs(key[0])
            first_wait = _answer_key(url) not in self._answered
            if streak >= EXPIRIES_TO_GIVE_UP or (server_hangs and first_wait):
                self._unresponsive.setdefault(key, streak)

    def _hangs(self, server: str) -> bool:
        return any(known == server for known, _ in self._unresponsive)

    def unresponsive(self) -> list[str]:
        """The families given up on, as `family (server)`."""
        with self._lock:
            return sorted(f"{family} ({server})" for server, family in self._unresponsive)


def _key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", family_of(url)


def _answer_key(url: str) -> tuple[str, str, bool]:
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}", *_route(url))


WATCH = EndpointWatch()
