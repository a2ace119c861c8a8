"""One answer, whether it came as a JSON body or as a stream: the behaviour checks are written
once and run in both modes (a `mode` parameter), so no rule is checked one way only.

A stream is first held to the SSE contract (`stream_chunks`), then its deltas are joined per
choice index into the same shape a plain answer has: text, finish reasons, tool calls, logprobs.
An answer without a choice fails `answer.empty` where a check reads one (`first`,
`require_choices`), and one whose first choice says nothing fails it where a check compares what
it says (`said`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from compliance._checks import expect_ok, stream_chunks
from compliance._client import ApiClient, Exchange
from compliance._failure import ensure, fail
from compliance._reasoning import (
    CHAT_REASONING,
    check_chat_message,
    check_chat_stream,
    check_chat_usage,
    reasoning_of,
)
from compliance._shared_rules import EMPTY, USAGE

MODES = ("plain", "stream")
ROUTES = {
    "chat": ("/chat/completions", "createChatCompletion"),
    "completions": ("/completions", "createCompletion"),
}


@dataclass
class ToolCall:
    index: Any
    id: str | None
    name: str
    arguments: Any  # a str when every fragment was a string; otherwise what came


@dataclass
class Choice:
    index: int
    text: str = ""
    content: Any = None  # chat: message.content as sent (None when null); streams: joined text
    finish_reasons: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[Any] = field(default_factory=list)
    reasoning: str = ""  # what a reasoning model thought (_reasoning), never text

    @property
    def finish_reason(self) -> str | None:
        return self.finish_reasons[-1] if self.finish_reasons else None


@dataclass
class Answer:
    kind: str
    mode: str
    exchange: Exchange
    choices: list[Choice]
    usage: dict[str, Any] | None
    chunks: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] | None = None

    def require_choices(self) -> list[Choice]:
        """Every choice, at least one: a check looping over none checks nothing, and one reading
        the first must not be handed an invented empty choice."""
        if not self.choices:
            came = "choices: []"
            if self.mode == "stream":
                came = f"{len(self.chunks)} chunks, none with a choice"
            fail(EMPTY, f"the answer has no choice ({came})", self.exchange, cause=f"{EMPTY}: none")
        return self.choices

    @property
    def first(self) -> Choice:
        return self.require_choices()[0]

    def said(self) -> Choice:
        """The first choice, which must hold text or a tool call: what a check compares (two
        empty answers are equal, and prove nothing). A choice whose only text is reasoning is the
        model's own sign that it spent the limit thinking: the check cannot judge it, and skips."""
        choice = self.first
        if not (choice.text or choice.tool_calls) and choice.reasoning:
            pytest.skip(
                f"the model spent the token limit reasoning ({len(choice.reasoning)} characters, "
                "no text): nothing to compare"
            )
        ensure(
            choice.text or choice.tool_calls,
            EMPTY,
            f"the first choice holds no text and no tool call (finish {choice.finish_reasons})",
            self.exchange,
            cause=f"{EMPTY}: nothing said",
        )
        return choice

    @property
    def indexes(self) -> list[int]:
        return sorted(c.index for c in self.choices)


def request(
    client: ApiClient, kind: str, body: dict[str, Any], mode: str, profile: str
) -> Exchange:
    """The raw exchange of one request in the given mode (for checks of error answers)."""
    path, _ = ROUTES[kind]
    if mode == "plain":
        return client.post(path, body)
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
    # A stream of max_tokens tokens has about that many events per choice; far beyond is endless.
    max_events = 4 * min(limit, 4096) * int(body.get("n") or 1) + 32
    return client.stream(path, {**body, "stream": True}, max_events=max_events)


def ask(client: ApiClient, kind: str, body: dict[str, Any], mode: str, profile: str) -> Answer:
    """Send the request in `mode` and return the answer, after the shape checks of that mode."""
    return answer_of(request(client, kind, body, mode, profile), kind, mode, profile)


def answer_of(exchange: Exchange, kind: str, mode: str, profile: str) -> Answer:
    """The answer, after the checks every answer gets whatever the test: the shape of its
    reasoning (where the server sends any) and the parts of its usage."""
    _, operation = ROUTES[kind]
    # Reasoning counts are the chat rule's; a completions usage breaks the usage rule alone.
    reasoning_rule = CHAT_REASONING if kind == "chat" else USAGE
    if mode == "plain":
        parsed = expect_ok(exchange, operation, profile)
        raw_choices = parsed.get("choices") or []
        if kind == "chat":
            for raw in raw_choices:
                check_chat_message(raw.get("message") or {}, exchange)
        check_chat_usage(parsed.get("usage"), exchange, reasoning_rule)
        choices = [_plain_choice(kind, c) for c in raw_choices]
        return Answer(kind, mode, exchange, choices, parsed.get("usage"), body=parsed)
    chunks = stream_chunks(exchange, operation, profile)
    if kind == "chat":
        check_chat_stream(chunks, exchange)
    usage = next((c["usage"] for c in reversed(chunks) if c.get("usage")), None)
    check_chat_usage(usage, exchange, reasoning_rule)
    return Answer(kind, mode, exchange, _joined(kind, chunks), usage, chunks=chunks)


def _plain_choice(kind: str, raw: dict[str, Any]) -> Choice:
    choice = Choice(int(raw.get("index", 0)))
    if raw.get("finish_reason"):
        choice.finish_reasons.append(raw["finish_reason"])
    logprobs = raw.get("logprobs")
    if kind == "completions":
        choice.text = raw.get("text") or ""
        choice.content = raw.get("text")
        if isinstance(logprobs, dict):
            choice.logprobs = list(logprobs.get("token_logprobs") or [])
        return choice
    message = raw.get("message") or {}
    choice.content = message.get("content")
    choice.text = choice.content if isinstance(choice.content, str) else ""
    choice.reasoning = reasoning_of(message)
    for position, call in enumerate(message.get("tool_calls") or []):
        fn = call.get("function") or {}
        choice.tool_calls.append(
            ToolCall(position, call.get("id"), fn.get("name") or "", fn.get("arguments"))
        )
    if isinstance(logprobs, dict):
        choice.logprobs = list(logprobs.get("content") or [])
    return choice


def _joined(kind: str, chunks: list[dict[str, Any]]) -> list[Choice]:
    choices: dict[int, Choice] = {}
    calls: dict[tuple[int, Any], dict[str, Any]] = {}
    for chunk in chunks:
        for raw in chunk.get("choices") or []:
            index = raw.get("index", 0)
            choice = choices.setdefault(index, Choice(index, content=""))
            if raw.get("finish_reason"):
                choice.finish_reasons.append(raw["finish_reason"])
            logprobs = raw.get("logprobs")
            if kind == "completions":
                choice.text += raw.get("text") or ""
                if isinstance(logprobs, dict):
                    choice.logprobs += list(logprobs.get("token_logprobs") or [])
                continue
            delta = raw.get("delta") or {}
            choice.text += delta.get("content") or ""
            choice.reasoning += reasoning_of(delta)
            if isinstance(logprobs, dict):
                choice.logprobs += list(logprobs.get("content") or [])
            for fragment in delta.get("tool_calls") or []:
                _add_fragment(calls, index, fragment)
    for (index, call_index), call in calls.items():
        choices[index].tool_calls.append(
            ToolCall(call_index, call["id"], call["name"], call["arguments"])
        )
    for choice in choices.values():
        choice.content = choice.text
    return [choices[i] for i in sorted(choices)]


def _add_fragment(calls: dict, choice_index: int, fragment: dict[str, Any]) -> None:
    """Fragments are keyed by their index; name and arguments arrive in string pieces."""
    call = calls.setdefault(
        (choice_index, fragment.get("index")),
        {"id": None, "name": "", "arguments": ""},
    )
    call["id"] = call["id"] or fragment.get("id")
    fn = fragment.get("function") or {}
    call["name"] += fn.get("name") or ""
    arguments = fn.get("arguments")
    if arguments is None:
        return
    if isinstance(arguments, str) and isinstance(call["arguments"], str):
        call["arguments"] += arguments
    else:  # keep what came, so the check can say arguments must be string fragments
        call["arguments"] = arguments
