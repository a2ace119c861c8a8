"""GET /v1/models and GET /v1/models/{model}."""

from __future__ import annotations

from sanic import Request, json
from sanic.response import HTTPResponse

from ..errors import model_not_found
from ..registry import load_failure


async def list_models(request: Request) -> HTTPResponse:
    # A model that failed to load is left out: clients pick models from this list, and that one
    # can serve nothing. /health names it with the reason; requests naming it get a 503.
    registry = request.app.ctx.registry
    data = [m.describe() for m in registry if m.worker.load_error is None]
    return json({"object": "list", "data": data})


async def retrieve_model(request: Request, model: str) -> HTTPResponse:
    for served in request.app.ctx.registry:
        if served.model_id == model:
            if served.worker.load_error is not None:
                raise load_failure(served)
            return json(served.describe())
    raise model_not_found(model)
