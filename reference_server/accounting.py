"""Every request ends exactly one way, so that `/metrics` adds up.

    inferno_requests_started_total{route}            counted when a request reaches the app
    inferno_requests_finished_total{route,outcome}   counted once, when it really ends

Outcomes: `completed` (answered in full, whatever the status: a 400 is a complete answer),
`cancelled` (the client went away, or stopped reading, before the end), `shed` (refused for
now: 429 at capacity, 503 while loading) and `failed` (any other 5xx, or a stream that ended
with an error event). At any moment started − Σ finished is the number of requests in
flight, so on an idle server `started = completed + cancelled + shed + failed` for every route.

A plain answer ends when its response is built (the response middleware); a stream ends when
its last byte is sent or the connection drops (`streaming.run_stream`). A client that vanishes
before any response is answered (to nobody) with status 499, the status such proxies log for
"client closed request", and counted as cancelled, not as a server error.
"""

from __future__ import annotations

from sanic import Request

from .metrics import Metrics

STARTED = "inferno_requests_started_total"
FINISHED = "inferno_requests_finished_total"
CLIENT_CLOSED_REQUEST = 499
COMPLETED, CANCELLED, SHED, FAILED = "completed", "cancelled", "shed", "failed"
OUTCOMES = (COMPLETED, CANCELLED, SHED, FAILED)
_STREAM_TYPE = "text/event-stream"


def describe(metrics: Metrics) -> None:
    metrics.describe(STARTED, "counter", "HTTP requests that reached the server, by route")
    metrics.describe(
        FINISHED,
        "counter",
        "HTTP requests that ended, by route and outcome (completed, cancelled, shed, failed)",
    )


def route_of(request: Request) -> str:
    route = request.route.path if request.route else "unmatched"
    return "/" + route.lstrip("/")


def start(request: Request) -> None:
    if getattr(request.ctx, "accounted", None) is not None:
        return
    request.ctx.accounted = "started"
    request.app.ctx.metrics.inc(STARTED, route=route_of(request))


def finish(request: Request, outcome: str) -> None:
    """Records how the request ended; only the first call for a request counts."""
    if getattr(request.ctx, "accounted", None) == "finished":
        return
    # A request can fail before the request middleware ran (a client that hung up while
    # sending its body): it is started and finished here, so the sums still agree.
    start(request)
    request.ctx.accounted = "finished"
    request.app.ctx.metrics.inc(FINISHED, route=route_of(request), outcome=outcome)


def outcome_of(status: int) -> str:
    """The outcome a complete answer with this status stands for."""
    if status == CLIENT_CLOSED_REQUEST:
        return CANCELLED
    if status in (429, 503):
        return SHED
    if status >= 500:
        return FAILED
    return COMPLETED


def on_response(request: Request, status: int, content_type: str | None) -> None:
    """The response middleware's part: a plain answer ends here, a stream only begins."""
    if status == 200 and (content_type or "").startswith(_STREAM_TYPE):
        return
    finish(request, outcome_of(status))
