"""What the engine does when its own thread fails: how often it may restart, and how a
backend is made clean again."""

from __future__ import annotations

import contextlib
from collections import deque

from .backend import Backend, BackendLoader

# A failure that comes back at once is not transient: after this many restarts within the
# window the engine gives up, and the process exits so that a supervisor starts it afresh.
MAX_RESTARTS = 3
RESTART_WINDOW_S = 60.0


class RestartBudget:
    """At most `limit` restarts within any `window` seconds."""

    def __init__(self, limit: int = MAX_RESTARTS, window: float = RESTART_WINDOW_S) -> None:
        self._window = window
        self._recent: deque[float] = deque(maxlen=max(1, limit))
        self._limit = limit

    def allow(self, now: float) -> bool:
        """Whether a restart now stays within the budget; counts it if so."""
        while self._recent and now - self._recent[0] > self._window:
            self._recent.popleft()
        if len(self._recent) >= self._limit:
            return False
        self._recent.append(now)
        return True


def clean_backend(backend: Backend, load: BackendLoader) -> Backend:
    """The backend with no cells in any sequence; a fresh one if it cannot drop them (then its
    state is unknown). Raises when a fresh one cannot be loaded either."""
    try:
        if all(backend.forget(seq, 0) for seq in range(backend.facts.n_seq)):
            return backend
    except Exception:
        pass
    with contextlib.suppress(Exception):
        backend.close()
    return load()
