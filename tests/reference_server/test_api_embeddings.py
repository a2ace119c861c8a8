"""POST /v1/embeddings: every input form, float and base64, dimensions, usage."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.reference_server._assertions import (
    EMBEDDINGS,
    MODEL,
    client,
    error_body,
    json_body,
    tokenize,
)

OP = "createEmbedding"


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def embed(http: httpx.Client, input: Any, **extra: Any) -> dict[str, Any]:
    body = json_body(http.post(EMBEDDINGS, json={"model": MODEL, "input": input, **extra}), OP)
    assert body["object"] == "list"
    assert body["model"] == MODEL
    assert [d["index"] for d in body["data"]] == list(range(len(body["data"])))
    assert all(d["object"] == "embedding" for d in body["data"])
    return body


def vectors(body: dict[str, Any]) -> list[np.ndarray]:
    found = []
    for item in body["data"]:
        value = item["embedding"]
        if isinstance(value, str):
            found.append(np.frombuffer(base64.b64decode(value), dtype="<f4").astype(np.float64))
        else:
            found.append(np.asarray(value, dtype=np.float64))
    return found


def test_string_gives_one_unit_vector_and_exact_usage(http: httpx.Client) -> None:
    body = embed(http, "Hello world")
    (vector,) = vectors(body)
    assert vector.shape == (64,)  # the tiny model's n_embd
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    count = len(tokenize("Hello world"))
    assert body["usage"] == {"prompt_tokens": count, "total_tokens": count}


def test_same_text_same_vector_other_text_other_vector(http: httpx.Client) -> None:
    (a,) = vectors(embed(http, "Hello world"))
    (again,) = vectors(embed(http, "Hello world"))
    (b,) = vectors(embed(http, "A quiet mountain river"))
    np.testing.assert_allclose(a, again, atol=1e-6)
    assert not np.allclose(a, b, atol=1e-3)


def test_batch_equals_one_by_one(http: httpx.Client) -> None:
    texts = ["Hello world", "A quiet mountain river", "東京 🙂"]
    batch = embed(http, texts)
    assert len(batch["data"]) == 3
    for text, vector in zip(texts, vectors(batch), strict=True):
        np.testing.assert_allclose(vector, vectors(embed(http, text))[0], atol=1e-5)
    assert batch["usage"]["prompt_tokens"] == sum(len(tokenize(t)) for t in texts)


def test_token_ids_embed_like_their_text(http: httpx.Client) -> None:
    ids = tokenize("Hello world")
    body = embed(http, ids)
    assert body["usage"]["prompt_tokens"] == len(ids)
    np.testing.assert_allclose(vectors(body)[0], vectors(embed(http, "Hello world"))[0], atol=1e-5)


def test_array_of_token_arrays(http: httpx.Client) -> None:
    first, second = tokenize("Hello world"), tokenize("A quiet mountain river")
    body = embed(http, [first, second])
    got = vectors(body)
    assert len(got) == 2
    np.testing.assert_allclose(got[1], vectors(embed(http, "A quiet mountain river"))[0], atol=1e-5)
    assert body["usage"]["prompt_tokens"] == len(first) + len(second)


def test_base64_decodes_to_the_float_vector(http: httpx.Client) -> None:
    texts = ["Hello world", "A quiet mountain river"]
    as_float = embed(http, texts, encoding_format="float")
    as_base64 = embed(http, texts, encoding_format="base64")
    assert all(isinstance(d["embedding"], list) for d in as_float["data"])
    assert all(isinstance(d["embedding"], str) for d in as_base64["data"])
    for f, b in zip(vectors(as_float), vectors(as_base64), strict=True):
        # float32 on the wire both ways: equal to float32 precision
        np.testing.assert_allclose(b, np.float32(f), rtol=0, atol=1e-7)
    assert as_float["usage"] == as_base64["usage"]


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_dimensions_shorten_and_renormalise(http: httpx.Client, encoding: str) -> None:
    (full,) = vectors(embed(http, "Hello world"))
    (short,) = vectors(embed(http, "Hello world", dimensions=8, encoding_format=encoding))
    assert short.shape == (8,)
    assert np.linalg.norm(short) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(short, full[:8] / np.linalg.norm(full[:8]), atol=1e-5)


def test_dimensions_beyond_the_model_are_rejected(http: httpx.Client) -> None:
    response = http.post(EMBEDDINGS, json={"model": MODEL, "input": "x", "dimensions": 65})
    error_body(response, 400, OP, param="dimensions")


@pytest.mark.parametrize(
    ("value", "param"),
    [("", "input"), ([], "input"), (["ok", ""], "input"), ("x" * 8001, "input")],
    ids=["empty-string", "empty-list", "empty-item", "over-strict-limit"],
)
def test_bad_inputs_are_rejected(http: httpx.Client, value: Any, param: str) -> None:
    response = http.post(EMBEDDINGS, json={"model": MODEL, "input": value})
    error_body(response, 400, OP, param=param)
