"""Embeddings: input forms, float and base64 encodings, dimensions, order and usage."""

from __future__ import annotations

import base64
import math
import struct

import pytest

from compliance._capabilities import Capabilities
from compliance._checks import check_usage, expect_error, expect_ok
from compliance._client import ApiClient, Exchange
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._shared_rules import LANGCHAIN, SDK, USAGE
from compliance.rules import BREAKS_CLIENTS, CONTRACT, declare

OP = "createEmbedding"

OBJECT = declare("embeddings.object", CONTRACT, "an embeddings answer has object 'list'")
VECTORS = declare(
    "embeddings.vectors",
    BREAKS_CLIENTS,
    "one finite float vector per input, all of one length, index 0..n-1 in input order",
    clients=(SDK, LANGCHAIN),
)
BATCH_ORDER = declare(
    "embeddings.batch-order",
    BREAKS_CLIENTS,
    "vector i of a batch is the embedding of input i (silently wrong search results otherwise)",
    clients=(SDK, LANGCHAIN),
)
TOKEN_IDS = declare(
    "embeddings.token-ids",
    BREAKS_CLIENTS,
    "input as token ids (a list of integers) is accepted: langchain-openai sends it by default",
    clients=(LANGCHAIN,),
)
BASE64 = declare(
    "embeddings.base64",
    BREAKS_CLIENTS,
    "encoding_format base64 gives little-endian float32 equal to the float vector (SDK default)",
    clients=(SDK, LANGCHAIN),
)
DIMENSIONS = declare(
    "embeddings.dimensions",
    CONTRACT,
    "dimensions=N gives N-long vectors, or a 400 for a model that cannot shorten them",
)


@pytest.fixture(autouse=True)
def _embeddings(caps: Capabilities) -> None:
    caps.need("embeddings")


def _embed(
    client: ApiClient, settings: Settings, model: str, **extra: object
) -> tuple[dict, Exchange]:
    exchange = client.post("/embeddings", {"model": model, **extra})
    return expect_ok(exchange, OP, settings.profile), exchange


def _vectors(body: dict, ex: Exchange, count: int) -> list[list[float]]:
    data = body["data"]
    ensure(len(data) == count, VECTORS, f"{count} inputs but {len(data)} vectors", ex)
    ensure(
        [d["index"] for d in data] == list(range(count)),
        VECTORS,
        f"data must be in input order with index 0..{count - 1}, got {[d['index'] for d in data]}",
        ex,
    )
    vectors = [d["embedding"] for d in data]
    for v in vectors:
        ensure(
            isinstance(v, list) and v and all(isinstance(x, int | float) for x in v),
            VECTORS,
            "encoding_format float needs a non-empty list of numbers",
            ex,
        )
        ensure(all(math.isfinite(x) for x in v), VECTORS, "NaN/inf in vector", ex)
    ensure(len({len(v) for v in vectors}) == 1, VECTORS, "vector lengths differ", ex)
    return vectors


def test_single_string(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    body, ex = _embed(client, settings, embedding_model, input="The quick brown fox")
    ensure(body.get("object") == "list", OBJECT, "object must be 'list'", ex)
    _vectors(body, ex, 1)
    check_usage(body.get("usage"), ex, USAGE, completion=False)


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
        BATCH_ORDER,
        f"input 1 embedded alone is not closest to batch vector 1 (cosines {sims})",
        ex,
    )


@pytest.mark.preset("extended")
def test_token_id_input(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    # A mandatory input form, not an optional feature: a 4xx here is a failure.
    for value, count in (([1, 2, 3], 1), ([[1, 2, 3], [4, 5]], 2)):
        exchange = client.post("/embeddings", {"model": embedding_model, "input": value})
        if exchange.status is not None and exchange.status != 200:
            fail(TOKEN_IDS, f"token-id input {value} was answered {exchange.status}", exchange)
        body = expect_ok(exchange, OP, settings.profile)
        _vectors(body, exchange, count)


def test_base64_matches_float(client: ApiClient, settings: Settings, embedding_model: str) -> None:
    floats, _ = _embed(client, settings, embedding_model, input="compare encodings")
    encoded, ex = _embed(
        client, settings, embedding_model, input="compare encodings", encoding_format="base64"
    )
    raw = encoded["data"][0]["embedding"]
    ensure(isinstance(raw, str), BASE64, "base64 embedding must be a string", ex)
    try:
        blob = base64.b64decode(raw, validate=True)
    except ValueError:
        blob = b""
    ensure(
        blob and len(blob) % 4 == 0,
        BASE64,
        "not base64 of little-endian float32",
        ex,
    )
    decoded = list(struct.unpack(f"<{len(blob) // 4}f", blob))
    ensure(
        _close(decoded, floats["data"][0]["embedding"]),
        BASE64,
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
        expect_error(exchange, {400}, settings.profile)
        pytest.skip(
            "the model does not support `dimensions` (400, as OpenAI answers for fixed models)"
        )
    body = expect_ok(exchange, OP, settings.profile)
    got = len(body["data"][0]["embedding"])
    ensure(got == want, DIMENSIONS, f"dimensions={want} but got {got}", exchange)


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
