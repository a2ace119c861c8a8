"""The SSE contract of chat and completions streams."""

from __future__ import annotations

import json

import pytest

from compliance._capabilities import TOOL, TOOL_CHOICE, Capabilities
from compliance._checks import chat_body, check_usage, completion_body, expect_ok, stream_chunks
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._options import Settings

ROUTES = {
    "chat": ("/chat/completions", "createChatCompletion", "chat.completion.chunk"),
    "completions": ("/completions", "createCompletion", "text_completion"),
}


def _body(kind: str, model: str, **extra: object) -> dict:
    return chat_body(model, **extra) if kind == "chat" else completion_body(model, **extra)


def _stream(client: ApiClient, kind: str, body: dict, profile: str, rule: str):
    path, op, _ = ROUTES[kind]
    # A stream of max_tokens tokens has about that many events; anything far beyond is endless.
    limit = 4 * int(body.get("max_tokens") or 16) + 32
    exchange = client.stream(path, {**body, "stream": True}, max_events=limit)
    return stream_chunks(exchange, op, profile, rule), exchange


def _finish_reasons(chunks: list[dict]) -> list[str]:
    return [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")]


def _text(kind: str, chunk: dict) -> str:
    out = ""
    for choice in chunk.get("choices") or []:
        if kind == "chat":
            out += (choice.get("delta") or {}).get("content") or ""
        else:
            out += choice.get("text") or ""
    return out


@pytest.fixture(params=["chat", "completions"])
def kind(request: pytest.FixtureRequest, caps: Capabilities) -> str:
    if request.param == "completions":
        caps.need("completions")
    return request.param


def test_stream_framing_and_chunks(
    client: ApiClient, settings: Settings, model: str, kind: str
) -> None:
    chunks, ex = _stream(client, kind, _body(kind, model), settings.profile, "sse")
    ensure(chunks, "sse.chunks", "no data chunk before [DONE]", ex)
    _, _, obj = ROUTES[kind]
    ids = {c.get("id") for c in chunks}
    ensure(len(ids) == 1, "sse.same-id", f"every chunk must carry the same id, got {ids}", ex)
    for c in chunks:
        ensure(c.get("object") == obj, "sse.object", f"chunk object must be {obj!r}", ex)
        ensure(
            c.get("usage") is None, "sse.unrequested-usage", "usage sent without include_usage", ex
        )
    finishes = [ch for c in chunks for ch in c.get("choices") or [] if ch.get("finish_reason")]
    ensure(
        len(finishes) == 1,
        "sse.one-finish-reason",
        f"exactly one chunk must carry finish_reason, got {len(finishes)}",
        ex,
    )
    if kind == "chat":
        first = chunks[0]["choices"][0].get("delta") or {}
        ensure(
            first.get("role") == "assistant",
            "sse.first-role",
            f"first chunk's delta must carry role 'assistant', got {first!r}",
            ex,
        )
        for i, c in enumerate(chunks[1:], start=1):
            for choice in c.get("choices") or []:
                ensure(
                    (choice.get("delta") or {}).get("role") in (None,),
                    "sse.role-once",
                    f"chunk {i} repeats the role; only the first delta carries it",
                    ex,
                )


def test_stream_include_usage(client: ApiClient, settings: Settings, model: str, kind: str) -> None:
    body = _body(kind, model, stream_options={"include_usage": True})
    chunks, ex = _stream(client, kind, body, settings.profile, "sse.usage")
    last = chunks[-1]
    ensure(
        last.get("choices") == [] and last.get("usage") is not None,
        "sse.usage.last-chunk",
        "with stream_options.include_usage the last chunk before [DONE] must have "
        f"choices [] and usage; got {str(last)[:300]}",
        ex,
    )
    check_usage(last["usage"], ex, "sse.usage.arithmetic")
    for i, c in enumerate(chunks[:-1]):
        ensure(c.get("usage") is None, "sse.usage.only-last", f"chunk {i} carries usage", ex)


def test_stream_text_equals_non_stream(
    client: ApiClient, settings: Settings, model: str, kind: str
) -> None:
    path, op, _ = ROUTES[kind]
    body = _body(kind, model)
    whole = expect_ok(client.post(path, body), op, settings.profile, "sse.equivalence")
    choice = whole["choices"][0]
    expected = (choice.get("message") or {}).get("content") if kind == "chat" else choice["text"]
    chunks, ex = _stream(client, kind, body, settings.profile, "sse.equivalence")
    joined = "".join(_text(kind, c) for c in chunks)
    ensure(
        joined == (expected or ""),
        "sse.equivalence",
        f"temperature-0 stream text {joined!r} != non-stream text {expected!r}",
        ex,
    )


@pytest.mark.preset("extended")
def test_stream_stop_and_length(
    client: ApiClient, settings: Settings, model: str, kind: str
) -> None:
    chunks, ex = _stream(client, kind, _body(kind, model, max_tokens=2), settings.profile, "sse")
    reasons = _finish_reasons(chunks)
    ensure(
        reasons in (["length"], ["stop"]),
        "sse.finish-reason",
        f"max_tokens=2 stream must finish with 'length' (or 'stop'), got {reasons}",
        ex,
    )


@pytest.mark.preset("extended")
def test_stream_tool_call(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    """Streamed tool calls: fragments keyed by index, string arguments that join into JSON."""
    caps.need("tools")
    body = chat_body(
        model,
        content="What is the weather in Paris?",
        tools=[TOOL],
        tool_choice=TOOL_CHOICE,
        max_tokens=64,
    )
    chunks, ex = _stream(client, "chat", body, settings.profile, "sse.tools")
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for fragment in (choice.get("delta") or {}).get("tool_calls") or []:
                index = fragment.get("index")
                ensure(
                    isinstance(index, int),
                    "sse.tools.index",
                    f"every tool_calls fragment needs an integer index, got {fragment!r}",
                    ex,
                )
                call = calls.setdefault(index, {"name": "", "arguments": "", "id": None})
                call["id"] = call["id"] or fragment.get("id")
                fn = fragment.get("function") or {}
                call["name"] += fn.get("name") or ""
                arguments = fn.get("arguments")
                ensure(
                    arguments is None or isinstance(arguments, str),
                    "sse.tools.arguments-string",
                    f"streamed function.arguments must be string fragments, got {arguments!r}",
                    ex,
                )
                call["arguments"] += arguments or ""
    ensure(
        calls, "sse.tools.calls", "tool_choice forced get_weather but no tool_calls streamed", ex
    )
    for call in calls.values():
        ensure(call["id"], "sse.tools.id", "the first fragment of a tool call needs its id", ex)
        ensure(
            call["name"] == "get_weather",
            "sse.tools.name",
            f"streamed name {call['name']!r} != get_weather",
            ex,
        )
        try:
            parsed = json.loads(call["arguments"])
        except ValueError:
            fail(
                "sse.tools.arguments-json",
                f"joined arguments do not parse: {call['arguments']!r}",
                ex,
            )
        ensure(isinstance(parsed, dict), "sse.tools.arguments-json", f"not an object: {parsed}", ex)
    reasons = _finish_reasons(chunks)
    ensure(
        reasons in (["tool_calls"], ["stop"]),
        "sse.tools.finish-reason",
        f"finish_reason must be 'tool_calls' (or 'stop' for a forced function), got {reasons}",
        ex,
    )
