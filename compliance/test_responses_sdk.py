"""The official openai client's Responses API (`responses.create`, `responses.stream`, and the
stored-response calls): what applications built on it will see."""

from __future__ import annotations

import openai
import pytest

from compliance._capabilities import Capabilities
from compliance._checks import LONG_PROMPT
from compliance._failure import ensure, fail
from compliance._responses_rules import SDK
from compliance.test_sdk import sdk  # noqa: F401  (the suite's one SDK client fixture)

MAX_EVENTS = 400  # bounded: an endless stream is a failure, not a hang


@pytest.fixture(autouse=True)
def _needs_responses(caps: Capabilities) -> None:
    caps.need("responses")


def test_sdk_responses_create(sdk: openai.OpenAI, model: str) -> None:  # noqa: F811
    try:
        response = sdk.responses.create(
            model=model, input=LONG_PROMPT, max_output_tokens=16, temperature=0
        )
    except openai.OpenAIError as exc:
        fail(SDK, f"openai SDK failed on responses.create: {exc!r}", cause=f"{SDK}: create")
    ensure(
        response.status in ("completed", "incomplete"),
        SDK,
        f"the SDK saw status {response.status!r}",
        cause=f"{SDK}: create status",
    )
    ensure(
        isinstance(response.output_text, str), SDK, "no output_text", cause=f"{SDK}: output_text"
    )


def test_sdk_responses_stream(sdk: openai.OpenAI, model: str) -> None:  # noqa: F811
    deltas: list[str] = []
    try:
        with sdk.responses.stream(
            model=model, input=LONG_PROMPT, max_output_tokens=16, temperature=0
        ) as stream:
            for count, event in enumerate(stream):
                if count > MAX_EVENTS:
                    fail(SDK, f"over {MAX_EVENTS} events for 16 tokens", cause=f"{SDK}: endless")
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            final = stream.get_final_response()
    except openai.OpenAIError as exc:
        fail(SDK, f"openai SDK failed on responses.stream: {exc!r}", cause=f"{SDK}: stream")
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        # The SDK's accumulator trips over events out of order or missing fields.
        fail(SDK, f"the SDK could not follow the event stream: {exc!r}", cause=f"{SDK}: stream")
    ensure(
        "".join(deltas) == final.output_text,
        SDK,
        f"deltas {''.join(deltas)!r} != the SDK's final output_text {final.output_text!r}",
    )


def test_sdk_stored_responses(sdk: openai.OpenAI, model: str, caps: Capabilities) -> None:  # noqa: F811
    caps.need("responses_store")
    try:
        created = sdk.responses.create(model=model, input="Hello", max_output_tokens=16)
        retrieved = sdk.responses.retrieve(created.id)
        items = list(sdk.responses.input_items.list(created.id))
        sdk.responses.delete(created.id)
    except openai.OpenAIError as exc:
        fail(SDK, f"openai SDK failed on stored responses: {exc!r}", cause=f"{SDK}: store")
    ensure(retrieved.id == created.id, SDK, "retrieve returned another response")
    ensure(items, SDK, "input_items.list returned nothing for a one-message input")
    try:
        sdk.responses.retrieve(created.id)
    except openai.NotFoundError:
        return
    except openai.OpenAIError as exc:
        fail(SDK, f"retrieving a deleted response raised {exc!r}, not NotFoundError")
    fail(SDK, "a deleted response is still retrievable", cause=f"{SDK}: delete kept it")
