"""The SSE contract of chat and completions streams: framing, ids, roles, finish reasons, usage,
and the same text as the non-streamed answer. Behaviour checks (limits, stop, n, tools, …) run
streamed in their own modules through the `mode` parameter."""

from __future__ import annotations

import pytest

from compliance._answer import ask
from compliance._capabilities import Capabilities
from compliance._checks import chat_body, check_usage, completion_body
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings
from compliance._shared_rules import LANGCHAIN, LITELLM, SDK, USAGE
from compliance.rules import BREAKS_CLIENTS, CONTRACT, declare

OBJECTS = {"chat": "chat.completion.chunk", "completions": "text_completion"}

SAME_ID = declare("sse.same-id", CONTRACT, "every chunk of one stream carries the same id")
OBJECT = declare("sse.object", CONTRACT, "every chunk carries the stream's object name")
UNREQUESTED_USAGE = declare(
    "sse.unrequested-usage",
    CONTRACT,
    "no usage in chunks unless stream_options.include_usage asked for it",
)
ONE_FINISH = declare(
    "sse.one-finish-reason",
    BREAKS_CLIENTS,
    "exactly one chunk per choice carries finish_reason (clients stop reading at the first)",
    clients=(LANGCHAIN, LITELLM),
)
FIRST_ROLE = declare(
    "sse.first-role",
    CONTRACT,
    "the first delta of each choice carries role 'assistant', later deltas none",
)
USAGE_CHUNK = declare(
    "sse.usage-chunk",
    BREAKS_CLIENTS,
    "include_usage gives one last chunk with choices [] and usage before [DONE]",
    clients=(SDK, LANGCHAIN, LITELLM),
)
EQUIVALENCE = declare(
    "sse.equivalence",
    CONTRACT,
    "the joined text of a temperature-0 stream equals the non-streamed text",
)


def _body(kind: str, model: str, **extra: object) -> dict:
    return chat_body(model, **extra) if kind == "chat" else completion_body(model, **extra)


@pytest.fixture(params=["chat", "completions"])
def kind(request: pytest.FixtureRequest, caps: Capabilities) -> str:
    if request.param == "completions":
        caps.need("completions")
    return request.param


def test_stream_framing_and_chunks(
    client: ApiClient, settings: Settings, model: str, kind: str
) -> None:
    answer = ask(client, kind, _body(kind, model), "stream", settings.profile)
    chunks, ex = answer.chunks, answer.exchange
    obj = OBJECTS[kind]
    ids = {c.get("id") for c in chunks}
    ensure(len(ids) == 1, SAME_ID, f"every chunk must carry the same id, got {ids}", ex)
    for c in chunks:
        ensure(c.get("object") == obj, OBJECT, f"chunk object must be {obj!r}", ex)
        ensure(c.get("usage") is None, UNREQUESTED_USAGE, "usage sent without include_usage", ex)
    # A stream of `choices: []` chunks has no role and no finish reason to check: it fails.
    for choice in answer.require_choices():
        ensure(
            len(choice.finish_reasons) == 1,
            ONE_FINISH,
            f"exactly one chunk must carry finish_reason, got {choice.finish_reasons}",
            ex,
        )
    if kind == "chat":
        check_roles(chunks, ex)


def check_roles(chunks: list[dict], ex: object) -> None:
    seen: set[int] = set()
    for i, chunk in enumerate(chunks):
        for choice in chunk.get("choices") or []:
            index, role = choice.get("index", 0), (choice.get("delta") or {}).get("role")
            if index not in seen:
                seen.add(index)
                ensure(
                    role == "assistant",
                    FIRST_ROLE,
                    f"the first delta of choice {index} must carry role 'assistant', got {role!r}",
                    ex,
                    cause="sse.first-role missing",
                )
            else:
                ensure(
                    role is None,
                    FIRST_ROLE,
                    f"chunk {i} repeats the role; only the first delta of a choice carries it",
                    ex,
                    cause="sse.first-role repeated",
                )


def test_stream_include_usage(client: ApiClient, settings: Settings, model: str, kind: str) -> None:
    body = _body(kind, model, stream_options={"include_usage": True})
    answer = ask(client, kind, body, "stream", settings.profile)
    answer.require_choices()  # a usage chunk alone is not a stream with usage
    chunks, ex = answer.chunks, answer.exchange
    last = chunks[-1]
    ensure(
        last.get("choices") == [] and last.get("usage") is not None,
        USAGE_CHUNK,
        "with stream_options.include_usage the last chunk before [DONE] must have "
        f"choices [] and usage; got {str(last)[:300]}",
        ex,
    )
    check_usage(last["usage"], ex, USAGE)
    for i, c in enumerate(chunks[:-1]):
        ensure(c.get("usage") is None, USAGE_CHUNK, f"chunk {i} carries usage", ex)


def test_stream_text_equals_non_stream(
    client: ApiClient, settings: Settings, model: str, kind: str
) -> None:
    body = _body(kind, model)
    whole = ask(client, kind, body, "plain", settings.profile)
    streamed = ask(client, kind, body, "stream", settings.profile)
    # Only the plain answer must say something: a stream that lost its text differs from it,
    # which is this rule's failure, not an empty answer's.
    expected, joined = whole.said().text, streamed.first.text
    ensure(
        joined == expected,
        EQUIVALENCE,
        f"temperature-0 stream text {joined!r} != non-stream text {expected!r}",
        streamed.exchange,
    )
