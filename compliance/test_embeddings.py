"""Embeddings: input forms, float and base64 encodings, dimensions, order and usage."""

from __future__ import annotations

import base64
import math
import struct

import pytest

from compliance._capabilities import Capabilities
from compliance._checks import check_usage, expect_error, expect_ok
from compliance._client import ApiClient, Exchange
from compliance._failure import ensure
from compliance._options import Settings

OP = "createEmbedding"


@pytest.fixture(autouse=True)
def _embeddings(caps: Capabilities) -> None:
    caps.need("embeddings")


def _embed(
    client: ApiClient, settings: Settings, model: str, **extra: object
) -> tuple[dict, Exchange]:
    exchange = client.post("/embeddings", {"model": model, **extra})
    return expect_ok(exchange, OP, settings.profile, "embeddings"), exchange


def _vectors(body: dict, ex: Exchange, count: int) -> list[list[float]]:
    data = body["data"]
    ensure(len(data) == count, "embeddings.count", f"{count} inputs but {len(data)} vectors", ex)
    ensure(
        [d["index"] for d in data] == list(range(count)),
        "embeddings.index-order",
        f"data must be in input order with index 0..{count - 1}, got {[d['index'] for d in data]}",
        ex,
    )
    vectors = [d["embedding"] for d in data]
    for v in vectors:
        ensure(
            isinstance(v, list) and v and all(isinstance(x, int | float) for x in v),
            "embeddings.float",
            "encoding_format float needs a non-empty list of numbers",
            ex,
        )
        ensure(all(math.isfinite(x) for x in v), "embeddings.finite", "NaN/inf in vector", ex)
    ensure(len({len(v) for v in vectors}) == 1, "embeddings.dims", "vector lengths differ", ex)
    return vectors


def test_single_string(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    body, ex = _embed(client, settings, embedding_model, input="The quick brown fox")
    ensure(body.get("object") == "list", "embeddings.object", "object must be 'list'", ex)
    _vectors(body, ex, 1)
    check_usage(body.get("usage"), ex, "embeddings.usage", completion=False)


def test_batch_order(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    texts = ["first text", "a second, longer text about something else", "third"]
    body, ex = _embed(client, settings, embedding_model, input=texts)
    vectors = _vectors(body, ex, 3)
    single, _ = _embed(client, settings, embedding_model, input=texts[1])
    # Batching may change the numbers slightly (padding, kernels); order is what matters, so the
    # batch vector nearest to input 1 embedded alone must be vector 1.
    alone = single["data"][0]["embedding"]
    sims = [_cosine(v, alone) for v in vectors]
    ensure(
        max(range(3), key=lambda i: sims[i]) == 1 and sims[1] > 0.99,
        "embeddings.batch-order",
        f"input 1 embedded alone is not closest to batch vector 1 (cosines {sims})",
        ex,
    )


@pytest.mark.preset("extended")
def test_token_id_input(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    exchange = client.post("/embeddings", {"model": embedding_model, "input": [1, 2, 3]})
    if exchange.status == 400:
        pytest.skip("token-id input rejected with 400 (allowed: not every server tokenizes)")
    body = expect_ok(exchange, OP, settings.profile, "embeddings.token-ids")
    _vectors(body, exchange, 1)


def test_base64_matches_float(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    floats, _ = _embed(client, settings, embedding_model, input="compare encodings")
    encoded, ex = _embed(
        client, settings, embedding_model, input="compare encodings", encoding_format="base64"
    )
    raw = encoded["data"][0]["embedding"]
    ensure(isinstance(raw, str), "embeddings.base64.type", "base64 embedding must be a string", ex)
    try:
        blob = base64.b64decode(raw, validate=True)
    except ValueError:
        blob = b""
    ensure(
        blob and len(blob) % 4 == 0,
        "embeddings.base64.decode",
        "not base64 of little-endian float32",
        ex,
    )
    decoded = list(struct.unpack(f"<{len(blob) // 4}f", blob))
    ensure(
        _close(decoded, floats["data"][0]["embedding"]),
        "embeddings.base64.equal",
        "decoded base64 vector differs from the float vector",
        ex,
    )


@pytest.mark.preset("extended")
def test_dimensions(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    full, _ = _embed(client, settings, embedding_model, input="dimensions")
    size = len(full["data"][0]["embedding"])
    want = max(1, size // 2)
    exchange = client.post(
        "/embeddings", {"model": embedding_model, "input": "dimensions", "dimensions": want}
    )
    if exchange.status == 400:
        expect_error(exchange, {400}, settings.profile, "embeddings.dimensions")
        pytest.skip(
            "the model does not support `dimensions` (400, as OpenAI answers for fixed models)"
        )
    body = expect_ok(exchange, OP, settings.profile, "embeddings.dimensions")
    got = len(body["data"][0]["embedding"])
    ensure(got == want, "embeddings.dimensions", f"dimensions={want} but got {got}", exchange)


def _cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return -1.0
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else -1.0


def _close(a: list[float], b: list[float], tol: float = 1e-3) -> bool:
    if len(a) != len(b):
        return False
    scale = max(1e-6, max(abs(x) for x in b))
    return all(abs(x - y) <= tol * scale + 1e-6 for x, y in zip(a, b, strict=True))
