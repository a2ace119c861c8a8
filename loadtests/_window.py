"""What a load process produced inside the load window: the numerator of exact throughput.

The load window runs from the start of the test to the end of the load (``-t``, or the shape's
last step). Dividing everything that completed by it is biased both ways: streams still in flight
at the end are lost (closed loop at 8 users: 3 % low), and with ``--stop-timeout`` the requests
drained after the end are counted but the window is not stretched (3 % high). So a request and
its output tokens count as produced evenly over its lifetime (sent to last byte), and the window
is credited with the share of it that fell inside:

- finished before the end: the whole request and all its tokens;
- finished after the end (drained by ``--stop-timeout``): the share of its duration before the
  end, of the request and of its tokens;
- cut off at the end (Locust stopped it): its elapsed time as a share of the mean E2E of the
  process's finished requests (at most 1), of the request and of the mean output tokens of
  finished requests (at least the tokens it received); it counts as good when what it
  measured so far met the per-request objectives;
- sent after the end: nothing.

Spreading the tokens over the lifetime (rather than counting each when it arrived) is what makes a
closed loop come out at its steady rate, users x tokens / E2E: no token arrives before the first
TTFT, so counting arrivals would miss about half a stream per user at the start of the window.

Every process closes its own window on its own clock (a worker when its master says the load
ended), so machines' clocks need not agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._slo import meets
from ._stream_meter import StreamResult

END_MESSAGE = "inferno_end"  # master -> workers: the load window has ended


@dataclass
class Credit:
    """Requests and tokens credited to the window (fractions: shares of requests)."""

    requests: float = 0.0
    output_tokens: float = 0.0
    prompt_tokens: float = 0.0
    good_requests: float = 0.0
    good_output_tokens: float = 0.0
    cut_off: int = 0  # requests in flight when the load ended
    drained: int = 0  # requests that finished after the end

    def add(self, other: dict[str, Any]) -> None:
        for key, value in other.items():
            if key in self.__dataclass_fields__:
                setattr(self, key, type(getattr(self, key))(getattr(self, key) + value))

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    def empty(self) -> bool:
        return not any(self.__dict__.values())

    def timeline_share(self) -> dict[str, float]:
        """The fields the timeline spreads over a request's span (``_timeline.CREDIT``)."""
        return {
            "requests": self.requests,
            "output_tokens": self.output_tokens,
            "good_requests": self.good_requests,
            "good_output_tokens": self.good_output_tokens,
        }


@dataclass(eq=False)
class Live:
    """One request in flight: when it left and, for a stream, what arrived so far."""

    start: float
    stream: StreamResult | None = None
    settled: bool = False


def tokens_before(result: StreamResult, end: float) -> int:
    """Content events of a stream received by ``end`` (a cut-off stream has no usage count)."""
    if result.first_content_at is None or result.first_content_at > end:
        return 0
    events, at = 1, result.first_content_at
    for gap in result.itl_s:
        at += gap
        if at > end:
            break
        events += 1
    return events


@dataclass
class LoadWindow:
    """One process's window: its requests in flight, its end, and the means used to estimate."""

    end: float | None = None
    live: set[Live] = field(default_factory=set)
    _e2e_total: float = 0.0
    _finished: int = 0
    _tokens: int = 0

    def reset(self) -> None:
        self.end = None
        self.live.clear()
        self._e2e_total, self._finished, self._tokens = 0.0, 0, 0

    def begin(self, start: float) -> Live:
        live = Live(start)
        self.live.add(live)
        return live

    def forget(self, live: Live) -> None:
        self.live.discard(live)

    def finished(
        self, live: Live, *, e2e_s: float, output_tokens: int, prompt_tokens: int, good: bool
    ) -> Credit:
        """Credit of a successful request (its whole or its share of the window)."""
        live.settled = True
        self.forget(live)
        self._e2e_total += e2e_s
        self._finished += 1
        self._tokens += output_tokens
        done = live.start + e2e_s
        if self.end is None or done <= self.end:
            share, tokens = 1.0, float(output_tokens)
        elif live.start >= self.end:
            return Credit()
        else:
            share = (self.end - live.start) / max(e2e_s, 1e-9)
            tokens = share * output_tokens
        return Credit(
            requests=share,
            output_tokens=tokens,
            prompt_tokens=share * prompt_tokens,
            good_requests=share if good else 0.0,
            good_output_tokens=tokens if good else 0.0,
            drained=int(share < 1.0),
        )

    def cut_off(self, live: Live, now: float, objectives: dict[str, float]) -> Credit:
        """Credit of a request stopped before it finished (only after the end counts)."""
        live.settled = True
        self.forget(live)
        if self.end is None or live.start >= self.end:
            return Credit()
        elapsed = min(now, self.end) - live.start
        mean_e2e = self._e2e_total / self._finished if self._finished else 0.0
        share = min(1.0, elapsed / mean_e2e) if mean_e2e > 0 else 0.0
        result = live.stream
        received = tokens_before(result, self.end) if result is not None else 0
        mean_tokens = self._tokens / self._finished if self._finished else 0.0
        tokens = max(share * mean_tokens, float(received))
        good = meets(objectives, ttft_s=elapsed, itl_s=[], tpot_s=0.0, e2e_s=elapsed)
        if result is not None and result.content_events:
            first = result.first_content_at - live.start  # type: ignore[operator]
            decode = (result.last_content_at or 0.0) - (result.first_content_at or 0.0)
            tpot = decode / (result.content_events - 1) if result.content_events > 1 else 0.0
            good = meets(objectives, ttft_s=first, itl_s=result.itl_s, tpot_s=tpot, e2e_s=elapsed)
        return Credit(
            requests=share,
            output_tokens=tokens,
            good_requests=share if good else 0.0,
            good_output_tokens=tokens if good else 0.0,
            cut_off=1,
        )


def rates(credit: Credit, duration_s: float) -> dict[str, float]:
    """Per-second rates of a window's credit."""
    d = max(duration_s, 1e-9)
    return {
        "requests_per_s": credit.requests / d,
        "output_tokens_per_s": credit.output_tokens / d,
        "prompt_tokens_per_s": credit.prompt_tokens / d,
        "total_tokens_per_s": (credit.output_tokens + credit.prompt_tokens) / d,
        "goodput_requests_per_s": credit.good_requests / d,
        "goodput_output_tokens_per_s": credit.good_output_tokens / d,
    }
