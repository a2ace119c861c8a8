"""A second opinion from the official openai client: what real applications will see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from compliance._capabilities import Capabilities
from compliance._checks import LONG_PROMPT
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._sdk_http import sdk_http_client
from compliance._shared_rules import EMPTY, SDK
from compliance.rules import BREAKS_CLIENTS, declare

# Each test imports the SDK itself: importing it takes about a second, which a run that
# selects none of these tests should not pay.
if TYPE_CHECKING:
    import openai

SDK_MODELS = declare(
    "sdk.models", BREAKS_CLIENTS, "the openai SDK lists the models", clients=(SDK,)
)
SDK_CHAT = declare(
    "sdk.chat", BREAKS_CLIENTS, "the openai SDK parses a chat completion", clients=(SDK,)
)
SDK_STREAM = declare(
    "sdk.stream",
    BREAKS_CLIENTS,
    "the openai SDK iterates a stream to its end and sees the usage chunk",
    clients=(SDK,),
)
SDK_NOT_FOUND = declare(
    "sdk.not-found",
    BREAKS_CLIENTS,
    "an unknown model raises openai.NotFoundError",
    clients=(SDK,),
)
SDK_EMBEDDINGS = declare(
    "sdk.embeddings",
    BREAKS_CLIENTS,
    "the openai SDK embeds (base64 by default) and decodes float vectors",
    clients=(SDK,),
)


@pytest.fixture(scope="module")
def sdk(settings: Settings) -> Iterator[openai.OpenAI]:
    import openai

    client = openai.OpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key or "inferno-no-key",
        timeout=settings.request_timeout,
        max_retries=0,  # retries would hide flaky answers and stretch the deadline
        # Deadlines and size limits, on a client of the SDK's own HTTP library (httpx2 or httpx).
        http_client=sdk_http_client(settings.request_timeout),
    )
    yield client
    client.close()


def _messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": LONG_PROMPT}]


def test_sdk_models_list(sdk: openai.OpenAI, model: str) -> None:
    import openai

    try:
        ids = [m.id for m in sdk.models.list()]
    except openai.OpenAIError as exc:
        fail(SDK_MODELS, f"openai SDK could not list models: {exc!r}")
    ensure(model in ids, SDK_MODELS, f"{model!r} not in the SDK's model list {ids}")


def test_sdk_chat(sdk: openai.OpenAI, model: str) -> None:
    import openai

    try:
        result = sdk.chat.completions.create(
            model=model, messages=_messages(), max_tokens=8, temperature=0
        )
    except openai.OpenAIError as exc:
        fail(SDK_CHAT, f"openai SDK failed on a plain chat completion: {exc!r}")
    ensure(result.choices, SDK_CHAT, "the SDK parsed no choices")
    ensure(result.choices[0].message.role == "assistant", SDK_CHAT, "role is not assistant")


def test_sdk_chat_stream(sdk: openai.OpenAI, model: str) -> None:
    import openai

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
                fail(SDK_STREAM, "the SDK saw over 200 chunks for max_tokens=8")
    except openai.OpenAIError as exc:
        fail(SDK_STREAM, f"openai SDK failed while streaming: {exc!r}")
    ensure(chunks, SDK_STREAM, "the SDK saw no chunks")
    ensure(chunks[-1].usage is not None, SDK_STREAM, "no usage chunk seen by the SDK")
    # A stream of `choices: []` chunks (a usage chunk alone) is no stream of an answer.
    ensure(any(c.choices for c in chunks), EMPTY, "no chunk has a choice", cause=f"{EMPTY}: none")


def test_sdk_unknown_model_raises_not_found(sdk: openai.OpenAI) -> None:
    import openai

    try:
        sdk.chat.completions.create(
            model="inferno-no-such-model-7f3a", messages=_messages(), max_tokens=1
        )
    except openai.NotFoundError:
        return
    except openai.OpenAIError as exc:
        fail(SDK_NOT_FOUND, f"expected openai.NotFoundError, the SDK raised {exc!r}")
    fail(SDK_NOT_FOUND, "an unknown model raised nothing: the server answered it")


@pytest.mark.preset("extended")
def test_sdk_embeddings(sdk: openai.OpenAI, embedding_model: str, caps: Capabilities) -> None:
    import openai

    caps.need("embeddings")
    try:
        # The SDK asks for base64 by default and decodes it: a server that ignores the
        # encoding_format would break real applications here.
        result = sdk.embeddings.create(model=embedding_model, input=["one", "two"])
    except openai.OpenAIError as exc:
        fail(SDK_EMBEDDINGS, f"openai SDK failed on embeddings: {exc!r}")
    ensure(len(result.data) == 2, SDK_EMBEDDINGS, f"expected 2 vectors, got {len(result.data)}")
    ensure(
        all(isinstance(x, float) for x in result.data[0].embedding),
        SDK_EMBEDDINGS,
        "the SDK could not decode the vectors into floats",
    )
