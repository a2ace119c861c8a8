"""GET /v1/models and GET /v1/models/{model}."""

from __future__ import annotations

from sanic import Request, json
from sanic.response import HTTPResponse

from ..errors import model_not_found


async def list_models(request: Request) -> HTTPResponse:
    data = [m.describe() for m in request.app.ctx.registry]
    return json({"object": "list", "data": data})


async def retrieve_model(request: Request, model: str) -> HTTPResponse:
    for served in request.app.ctx.registry:
        if served.model_id == model:
            return json(served.describe())
    raise model_not_found(model)
