"""The official openai client's Responses API (`responses.create`, `responses.stream`, and the
stored-response calls): what applications built on it will see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from compliance import _responses as r
from compliance._capabilities import Capabilities
from compliance._checks import LONG_PROMPT
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._responses_rules import SDK
from compliance.test_sdk import sdk  # noqa: F401  (the suite's one SDK client fixture)

# Each test imports the SDK itself: importing it takes about a second, which a run that
# selects none of these tests should not pay.
if TYPE_CHECKING:
    import openai

MAX_EVENTS = 400  # bounded: an endless stream is a failure, not a hang


@pytest.fixture(autouse=True)
def _needs_responses(caps: Capabilities) -> None:
    caps.need("responses")


def test_sdk_responses_create(sdk: openai.OpenAI, model: str) -> None:  # noqa: F811
    import openai

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
    r.said(response.to_dict(), None, "the SDK's response")


def test_sdk_responses_stream(
    sdk: openai.OpenAI,  # noqa: F811
    client: ApiClient,
    settings: Settings,
    model: str,
) -> None:
    # A prompt the 16-token limit cuts where the model has one: the stream then ends with
    # response.incomplete, as OpenAI's does, the case `get_final_response()` refuses.
    prompt = r.long_prompt(client, settings.profile, model) or LONG_PROMPT
    deltas: list[str] = []
    try:
        with sdk.responses.stream(
            model=model, input=prompt, max_output_tokens=16, temperature=0
        ) as stream:
            last = None
            for count, event in enumerate(stream):
                if count > MAX_EVENTS:
                    fail(SDK, f"over {MAX_EVENTS} events for 16 tokens", cause=f"{SDK}: endless")
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                last = event
            final = _final_response(stream, last)
    except openai.OpenAIError as exc:
        fail(SDK, f"openai SDK failed on responses.stream: {exc!r}", cause=f"{SDK}: stream")
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        # The SDK's accumulator trips over events out of order or missing fields.
        fail(SDK, f"the SDK could not follow the event stream: {exc!r}", cause=f"{SDK}: stream")
    r.said(final.to_dict(), None, "the SDK's final response")
    joined = "".join(deltas)
    ensure(
        joined == final.output_text,
        SDK,
        f"deltas {joined!r} != the SDK's final output_text {final.output_text!r}",
    )


def _final_response(stream: Any, last: Any) -> Any:
    """The final response as the SDK hands it over. `get_final_response()` knows only
    response.completed; a stream that ends with response.incomplete (OpenAI's answer to a cut
    response) carries its final response in that event, accumulated by the SDK the same way."""
    kind = getattr(last, "type", None)
    if kind == "response.completed":
        return stream.get_final_response()
    ensure(
        kind == "response.incomplete",
        SDK,
        f"the SDK's stream ended with {kind!r}, not response.completed or response.incomplete",
        cause=f"{SDK}: stream end",
    )
    ensure(
        last.response.status == "incomplete",
        SDK,
        f"response.incomplete carries a response with status {last.response.status!r}",
        cause=f"{SDK}: stream end",
    )
    return last.response


def test_sdk_stored_responses(sdk: openai.OpenAI, model: str, caps: Capabilities) -> None:  # noqa: F811
    import openai

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
