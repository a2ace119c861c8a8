"""POST /v1/embeddings."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from sanic import Request, json
from sanic.response import HTTPResponse

from ..errors import invalid_request
from ..registry import ServedModel
from ..streaming import record_usage
from ._common import check_budget, check_token_ids, read_request, resolve_model


async def embeddings(request: Request) -> HTTPResponse:
    body = read_request(request, "createEmbedding")
    model = resolve_model(request, body)
    token_lists = _inputs(model, body["input"])
    dimensions = body.get("dimensions")
    if dimensions is not None and dimensions > model.worker.n_embd:
        raise invalid_request(
            f"dimensions must be at most {model.worker.n_embd} for this model", "dimensions"
        )
    check_budget(request, 1, sum(len(t) for t in token_lists), 0)
    vectors = await model.worker.embed(token_lists)
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(vec, dimensions, as_base64)}
        for i, vec in enumerate(vectors)
    ]
    prompt_tokens = sum(len(t) for t in token_lists)
    record_usage(request, prompt_tokens, 0)
    return json(
        {
            "object": "list",
            "data": data,
            "model": model.model_id,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )


def _inputs(model: ServedModel, value: Any) -> list[list[int]]:
    worker = model.worker
    limit = worker.n_ctx
    if isinstance(value, str):
        items: list[Any] = [value]
    elif value and all(isinstance(v, int) for v in value):
        items = [value]
    else:
        items = list(value)
    token_lists = []
    for i, item in enumerate(items):
        param = "input" if len(items) == 1 else f"input[{i}]"
        if isinstance(item, str):
            tokens = worker.tokenize(item)
        else:
            check_token_ids(model, item, param)
            tokens = list(item)
        if len(tokens) > limit:
            raise invalid_request(
                f"input has {len(tokens)} tokens; this model embeds at most {limit}",
                param,
                code="context_length_exceeded",
            )
        token_lists.append(tokens)
    return token_lists


def _encode(vector: list[float], dimensions: int | None, as_base64: bool) -> list[float] | str:
    array = np.asarray(vector, dtype=np.float64)
    if dimensions is not None:
        # Shortened embeddings are renormalised, as OpenAI does for `dimensions`.
        array = array[:dimensions]
        norm = float(np.linalg.norm(array))
        if norm > 0:
            array = array / norm
    if as_base64:
        return base64.b64encode(array.astype("<f4").tobytes()).decode("ascii")
    return array.astype(np.float32).tolist()
