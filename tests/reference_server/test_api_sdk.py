"""The official `openai` SDK as a real client: chat, stream, completions, embeddings, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest

import specs
from tests.reference_server._assertions import (
    CHAT,
    EMBEDDINGS,
    HELLO,
    MODEL,
    chat_body,
    check_schema,
    client,
    error_body,
    json_body,
    sdk_client,
)


@pytest.fixture(scope="module")
def sdk(base_url: str) -> Iterator[openai.OpenAI]:
    with sdk_client(base_url) as c:
        yield c


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def wire(raw: Any, operation_id: str) -> Any:
    """The parsed SDK object of a raw response, after validating the body on the wire."""
    json_body(raw.http_response, operation_id)
    return raw.parse()


def test_models(sdk: openai.OpenAI) -> None:
    listed = wire(sdk.models.with_raw_response.list(), "listModels")
    assert [m.id for m in listed] == [MODEL]
    model = wire(sdk.models.with_raw_response.retrieve(MODEL), "retrieveModel")
    assert model.object == "model" and model.id == MODEL


def test_chat_completion(sdk: openai.OpenAI, http: httpx.Client) -> None:
    reply = wire(
        sdk.chat.completions.with_raw_response.create(
            model=MODEL, messages=HELLO, temperature=0, max_tokens=8
        ),
        "createChatCompletion",
    )
    expected = json_body(http.post(CHAT, json=chat_body()), "createChatCompletion")
    assert reply.choices[0].message.content == expected["choices"][0]["message"]["content"]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 8


def test_chat_stream(sdk: openai.OpenAI) -> None:
    whole = sdk.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=12)
    stream = sdk.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        temperature=0,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    validator = specs.stream_event_validator("createChatCompletion")
    text, finishes, usage, ids = "", [], None, set()
    with stream:
        for chunk in stream:
            # exclude_unset rebuilds the chunk as it was on the wire
            check_schema(validator, chunk.model_dump(mode="json", exclude_unset=True), "chunk")
            ids.add(chunk.id)
            for choice in chunk.choices:
                text += choice.delta.content or ""
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
            if chunk.usage is not None:
                usage = chunk.usage
    assert len(ids) == 1
    assert text == whole.choices[0].message.content
    assert finishes == [whole.choices[0].finish_reason]
    assert usage == whole.usage


def test_completion(sdk: openai.OpenAI) -> None:
    reply = wire(
        sdk.completions.with_raw_response.create(
            model=MODEL, prompt="Once upon", max_tokens=5, temperature=0
        ),
        "createCompletion",
    )
    assert reply.choices[0].text
    assert reply.usage is not None and reply.usage.completion_tokens == 5


def test_embeddings_with_the_sdk_default_base64(sdk: openai.OpenAI, http: httpx.Client) -> None:
    raw = sdk.embeddings.with_raw_response.create(model=MODEL, input=["Hello", "world"])
    assert all(isinstance(d["embedding"], str) for d in raw.http_response.json()["data"]), (
        "the SDK asks for base64 by default"
    )
    decoded = [np.asarray(item.embedding) for item in wire(raw, "createEmbedding").data]
    floats = json_body(
        http.post(EMBEDDINGS, json={"model": MODEL, "input": ["Hello", "world"]}),
        "createEmbedding",
    )
    assert len(decoded) == 2
    for got, item in zip(decoded, floats["data"], strict=True):
        np.testing.assert_allclose(got, np.float32(item["embedding"]), atol=1e-7)


def test_validation_error_is_bad_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=MODEL, messages=HELLO, temperature=3)
    error_body(caught.value.response, 400, "createChatCompletion", param="temperature")
    assert caught.value.param == "temperature"
    assert caught.value.type == "invalid_request_error"


def test_context_overflow_is_bad_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.completions.create(model=MODEL, prompt="Hello " * 1100, max_tokens=2)
    error_body(caught.value.response, 400, "createCompletion", code="context_length_exceeded")
    assert caught.value.code == "context_length_exceeded"


def test_unknown_model_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as chat:
        sdk.chat.completions.create(model="no-such-model", messages=HELLO)
    error_body(chat.value.response, 404, "createChatCompletion", code="model_not_found")
    assert chat.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as retrieve:
        sdk.models.retrieve("no-such-model")
    error_body(retrieve.value.response, 404, "retrieveModel", code="model_not_found")
    with pytest.raises(openai.NotFoundError) as embed:
        sdk.embeddings.create(model="no-such-model", input="x")
    error_body(embed.value.response, 404, "createEmbedding", code="model_not_found")


def test_wrong_method_is_an_api_status_error(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.get("/chat/completions", cast_to=object)
    error_body(caught.value.response, 405, "createChatCompletion")
    assert caught.value.status_code == 405
