"""A second opinion from the official openai client: what real applications will see."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from compliance._capabilities import Capabilities
from compliance._checks import LONG_PROMPT
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._transport import bounded_client


@pytest.fixture(scope="module")
def sdk(settings: Settings) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key or "inferno-no-key",
        timeout=settings.request_timeout,
        max_retries=0,  # retries would hide flaky answers and stretch the deadline
        http_client=bounded_client(settings.request_timeout),  # deadlines and size limits
    )
    yield client
    client.close()


def _messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": LONG_PROMPT}]


def test_sdk_models_list(sdk: openai.OpenAI, model: str) -> None:
    try:
        ids = [m.id for m in sdk.models.list()]
    except openai.OpenAIError as exc:
        fail("sdk.models", f"openai SDK could not list models: {exc!r}")
    ensure(model in ids, "sdk.models", f"{model!r} not in the SDK's model list {ids}")


def test_sdk_chat(sdk: openai.OpenAI, model: str) -> None:
    try:
        result = sdk.chat.completions.create(
            model=model, messages=_messages(), max_tokens=8, temperature=0
        )
    except openai.OpenAIError as exc:
        fail("sdk.chat", f"openai SDK failed on a plain chat completion: {exc!r}")
    ensure(result.choices, "sdk.chat", "the SDK parsed no choices")
    ensure(result.choices[0].message.role == "assistant", "sdk.chat", "role is not assistant")


def test_sdk_chat_stream(sdk: openai.OpenAI, model: str) -> None:
    try:
        stream = sdk.chat.completions.create(
            model=model,
            messages=_messages(),
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = []
        for chunk in stream:
            chunks.append(chunk)
            if len(chunks) > 200:  # bounded: an endless stream is a failure, not a hang
                stream.close()
                fail("sdk.stream.endless", "the SDK saw over 200 chunks for max_tokens=8")
    except openai.OpenAIError as exc:
        fail("sdk.stream", f"openai SDK failed while streaming: {exc!r}")
    ensure(chunks, "sdk.stream", "the SDK saw no chunks")
    ensure(chunks[-1].usage is not None, "sdk.stream.usage", "no usage chunk seen by the SDK")


def test_sdk_unknown_model_raises_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(
            model="inferno-no-such-model-7f3a", messages=_messages(), max_tokens=1
        )


@pytest.mark.preset("extended")
def test_sdk_embeddings(sdk: openai.OpenAI, embedding_model: str, caps: Capabilities) -> None:
    caps.need("embeddings")
    try:
        # The SDK asks for base64 by default and decodes it: a server that ignores the
        # encoding_format would break real applications here.
        result = sdk.embeddings.create(model=embedding_model, input=["one", "two"])
    except openai.OpenAIError as exc:
        fail("sdk.embeddings", f"openai SDK failed on embeddings: {exc!r}")
    ensure(len(result.data) == 2, "sdk.embeddings", f"expected 2 vectors, got {len(result.data)}")
    ensure(
        all(isinstance(x, float) for x in result.data[0].embedding),
        "sdk.embeddings.decode",
        "the SDK could not decode the vectors into floats",
    )
