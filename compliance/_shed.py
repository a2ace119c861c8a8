"""Shed load: a 429 or 503 with `Retry-After` says "not now", not "not this way".

A proxy that cools its only deployment down answers the next checks 429 whatever they ask; the
rule a check was about has not been exercised. The suite's client waits the advised delay and
retries, within a budget per exchange (`--shed-retries`) and per run (`--shed-wait`, seconds of
waiting in all, per process). An exchange still shed after that is recorded for the running
check: if the check then fails, its verdict is *inconclusive*, not a failure of its rule.

Checks whose rule is about shedding itself (a burst) send with `retry_shed=False`: their 429s
are the evidence, never retried nor recorded.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable

SHED_STATUSES = (429, 503)
SHED_HANDLED = "inferno_shed_handled"  # request extension: the caller retries and records itself
DEFAULT_RETRIES = 3
DEFAULT_WAIT_S = 60.0


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ShedLedger:
    """The run's budget of waiting, and the exchanges still shed in the running check."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.retries = DEFAULT_RETRIES
        self.wait_s = DEFAULT_WAIT_S
        self.waited_s = 0.0
        self._sleep = sleep
        self._lock = threading.Lock()
        self._check: list[str] = []

    def configure(self, retries: int, wait_s: float) -> None:
        self.retries, self.wait_s, self.waited_s = max(0, retries), max(0.0, wait_s), 0.0

    def start_check(self) -> None:
        with self._lock:
            self._check.clear()

    def in_check(self) -> list[str]:
        """What was shed in the running check, one line each."""
        with self._lock:
            return list(self._check)

    def seen(self, url: str, status: int | None, retry_after: str | None) -> None:
        """Record a shed answer nobody retried to success (no Retry-After: not shed load)."""
        if status not in SHED_STATUSES or retry_after_s(retry_after) is None:
            return
        with self._lock:
            if len(self._check) < 20:  # the first ones say it all; memory stays bounded
                self._check.append(f"{status} (Retry-After: {retry_after}) from {url}")

    def wait(self, delay_s: float, attempt: int) -> bool:
        """Sleep `delay_s` before retry number `attempt + 1`, if the budgets allow it."""
        if attempt >= self.retries:
            return False
        with self._lock:
            if self.waited_s + delay_s > self.wait_s:
                return False
            self.waited_s += delay_s
        self._sleep(delay_s)
        return True


SHED = ShedLedger()
