"""The official openai client's Responses API (`responses.create`, `responses.stream`, and the
stored-response calls): what applications built on it will see."""

from __future__ import annotations

import openai
import pytest

from compliance import _responses as r
from compliance._capabilities import Capabilities
from compliance._checks import LONG_PROMPT
from compliance._failure import ensure, fail
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
        fail(f"{r.SDK}.create", f"openai SDK failed on responses.create: {exc!r}")
    ensure(
        response.status in ("completed", "incomplete"),
        f"{r.SDK}.create.status",
        f"the SDK saw status {response.status!r}",
    )
    ensure(isinstance(response.output_text, str), f"{r.SDK}.create.text", "no output_text")


def test_sdk_responses_stream(sdk: openai.OpenAI, model: str) -> None:  # noqa: F811
    deltas: list[str] = []
    try:
        with sdk.responses.stream(
            model=model, input=LONG_PROMPT, max_output_tokens=16, temperature=0
        ) as stream:
            for count, event in enumerate(stream):
                if count > MAX_EVENTS:
                    fail(f"{r.SDK}.stream.endless", f"over {MAX_EVENTS} events for 16 tokens")
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            final = stream.get_final_response()
    except openai.OpenAIError as exc:
        fail(f"{r.SDK}.stream", f"openai SDK failed on responses.stream: {exc!r}")
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        # The SDK's accumulator trips over events out of order or missing fields.
        fail(f"{r.SDK}.stream", f"the SDK could not follow the event stream: {exc!r}")
    ensure(
        "".join(deltas) == final.output_text,
        f"{r.SDK}.stream.text",
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
        fail(f"{r.SDK}.store", f"openai SDK failed on stored responses: {exc!r}")
    ensure(retrieved.id == created.id, f"{r.SDK}.store", "retrieve returned another response")
    ensure(items, f"{r.SDK}.store", "input_items.list returned nothing for a one-message input")
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
