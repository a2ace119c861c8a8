"""GET /health, GET /metrics and GET /openapi.json."""

from __future__ import annotations

from sanic import Request, json
from sanic.response import HTTPResponse, text

import specs

from .. import flow


async def health(request: Request) -> HTTPResponse:
    registry = request.app.ctx.registry
    models = {}
    for served in registry:
        worker = served.worker
        error = worker.load_error or worker.fault
        if error is not None:
            state = "failed"
        elif worker.ready:
            state = "ready"
        else:
            state = "loading"
        models[served.model_id] = {
            "state": state,
            "running": worker.running,
            "queued": worker.queued,
            "capacity": worker.capacity,
            "utilisation": round(flow.utilisation(worker), 4),
            "load": flow.load_state(flow.utilisation(worker)),
            "cancelled": worker.cancelled_jobs,
            "restarts": worker.restarts,
        }
        if error is not None:
            models[served.model_id]["error"] = str(error)
    ready = registry.ready
    load, peak = flow.server_state(m.worker for m in registry)
    body = {
        "status": "ok" if ready else ("failed" if registry.failed else "loading"),
        "load": load,
        "utilisation": round(peak, 4),
        "models": models,
    }
    return json(body, status=200 if ready else 503)


async def metrics(request: Request) -> HTTPResponse:
    return text(
        request.app.ctx.metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )


async def openapi(request: Request) -> HTTPResponse:
    return json(specs.load_spec())
