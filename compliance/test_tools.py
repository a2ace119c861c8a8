"""Tool calls, plain and streamed: forced calls, calls cut by the token limit, tool_choice auto and
none, finish reasons and content alongside calls, and the tool-result turn every agent loop sends.

How finely streamed arguments are split is not checked: OpenAI promises no granularity (a proxy
may re-chunk them), only string fragments that join into the arguments.
"""

from __future__ import annotations

import json
import re

import pytest

from compliance._answer import MODES, Answer, ToolCall, answer_of, ask, request
from compliance._capabilities import TOOL, TOOL_CHOICE, Capabilities
from compliance._checks import chat_body
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._shared_rules import LANGCHAIN, LITELLM, PYDANTIC_AI, SDK, TOOL_ARGUMENTS
from compliance.rules import BREAKS_CLIENTS, CONTRACT, declare

AGENTS = (LANGCHAIN, PYDANTIC_AI, LITELLM, "instructor")
CALL = declare(
    "chat.tools.call",
    BREAKS_CLIENTS,
    "a forced tool_choice answers with message.tool_calls naming that function",
    clients=AGENTS,
)
FRAGMENTS = declare(
    "chat.tools.stream-fragments",
    BREAKS_CLIENTS,
    "streamed tool calls are fragments keyed by an integer index, the first with id and name",
    clients=(SDK + " stream helpers", LANGCHAIN, PYDANTIC_AI),
)
FINISH = declare(
    "chat.tools.finish-reason",
    CONTRACT,
    "an answer with tool calls finishes 'tool_calls' (OpenAI answers a forced function 'stop')",
)
CONTENT = declare(
    "chat.tools.content",
    CONTRACT,
    "message.content beside tool_calls is null or text, never the call itself as text",
)
CUT_CALL = declare(
    "chat.tools.cut-by-limit",
    BREAKS_CLIENTS,
    "a forced call cut by max_tokens is still a tool call (truncated arguments, finish 'length')",
    clients=AGENTS,
)
NONE = declare(
    "chat.tools.choice-none", CONTRACT, "tool_choice 'none' answers in text, with no tool call"
)
RESULT_TURN = declare(
    "chat.tools.result-turn",
    BREAKS_CLIENTS,
    "an assistant tool_calls turn and its tool result are accepted (every agent loop sends them)",
    clients=AGENTS,
)

QUESTION = "What is the weather in Paris?"
# A JSON object naming the tool, sent as text: a call that clients cannot see as a call. Text that
# merely mentions the tool is an answer like any other (OpenAI allows text beside calls).
CALL_AS_TEXT = re.compile(r'\{\s*"name"\s*:\s*"get_weather"')


@pytest.fixture(autouse=True)
def _tools(caps: Capabilities) -> None:
    caps.need("tools")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def _ask(client: ApiClient, settings: Settings, mode: str, **extra: object) -> Answer:
    body = chat_body(model=extra.pop("model"), content=QUESTION, tools=[TOOL], **extra)
    return ask(client, "chat", body, mode, settings.profile)


def check_call_shape(answer: Answer, call: ToolCall, *, complete: bool) -> None:
    ex = answer.exchange
    if answer.mode == "stream":
        ensure(isinstance(call.index, int), FRAGMENTS, f"fragment index {call.index!r}", ex)
        ensure(call.id, FRAGMENTS, "the first fragment of a tool call needs its id", ex)
    ensure(call.name == "get_weather", CALL, f"called {call.name!r}, not get_weather", ex)
    ensure(
        isinstance(call.arguments, str),
        TOOL_ARGUMENTS,
        f"function.arguments must be a JSON string, got {type(call.arguments).__name__}: "
        f"{call.arguments!r}",
        ex,
        cause="chat.tools.arguments not a string",
    )
    if not complete:
        return
    try:
        parsed = json.loads(call.arguments)
    except ValueError:
        fail(TOOL_ARGUMENTS, f"arguments do not parse as JSON: {call.arguments!r}", ex)
    ensure(
        isinstance(parsed, dict) and parsed.get("city") in ("Paris", "Tokyo"),
        TOOL_ARGUMENTS,
        f"arguments {parsed!r} do not match the tool's parameters",
        ex,
    )


def check_content_beside_calls(answer: Answer) -> None:
    """Content may be null or real text; the call repeated as text means clients see it twice."""
    content = answer.first.content
    ensure(
        content is None or isinstance(content, str),
        CONTENT,
        f"message.content must be null or a string, got {content!r}",
        answer.exchange,
    )
    if isinstance(content, str) and CALL_AS_TEXT.search(content):
        fail(
            CONTENT, f"the tool call is also returned as text content: {content!r}", answer.exchange
        )


def test_forced_tool_call(client: ApiClient, settings: Settings, model: str, mode: str) -> None:
    answer = _ask(client, settings, mode, model=model, tool_choice=TOOL_CHOICE, max_tokens=64)
    calls = answer.first.tool_calls
    ensure(calls, CALL, "tool_choice forced get_weather but no tool call came", answer.exchange)
    for call in calls:
        check_call_shape(answer, call, complete=True)
    check_content_beside_calls(answer)
    reasons = answer.first.finish_reasons
    ensure(
        reasons in (["tool_calls"], ["stop"]),
        FINISH,
        f"finish_reason must be 'tool_calls' (or 'stop' for a forced function), got {reasons}",
        answer.exchange,
    )


@pytest.mark.preset("extended")
def test_forced_tool_call_cut_by_limit(
    client: ApiClient, settings: Settings, model: str, mode: str
) -> None:
    # 3 tokens cannot hold a complete call: the answer is cut whatever the model is.
    answer = _ask(client, settings, mode, model=model, tool_choice=TOOL_CHOICE, max_tokens=3)
    calls = answer.first.tool_calls
    ensure(
        calls,
        CUT_CALL,
        f"a forced call cut by max_tokens=3 came back without tool_calls "
        f"(content {answer.first.content!r})",
        answer.exchange,
    )
    for call in calls:
        check_call_shape(answer, call, complete=False)
    ensure(
        answer.first.finish_reason == "length",
        CUT_CALL,
        f"a call cut by max_tokens must finish 'length', got {answer.first.finish_reasons}",
        answer.exchange,
    )


@pytest.mark.preset("extended")
def test_tool_choice_auto(client: ApiClient, settings: Settings, model: str, mode: str) -> None:
    """The model may answer in text or call; either way the answer is consistent."""
    answer = _ask(client, settings, mode, model=model, tool_choice="auto", max_tokens=64)
    choice = answer.said()
    if not choice.tool_calls:
        ensure(
            not CALL_AS_TEXT.search(choice.text),
            CONTENT,
            f"the call came back as text content instead of tool_calls: {choice.text[:200]!r}",
            answer.exchange,
        )
        ensure(
            choice.finish_reason in ("stop", "length"),
            FINISH,
            f"a text answer finishes 'stop' or 'length', got {choice.finish_reasons}",
            answer.exchange,
        )
        return
    complete = choice.finish_reason != "length"
    for call in choice.tool_calls:
        check_call_shape(answer, call, complete=complete)
    check_content_beside_calls(answer)
    ensure(
        choice.finish_reasons in (["tool_calls"], ["length"]),
        FINISH,
        f"tool_choice auto answered with a call: finish_reason must be 'tool_calls', "
        f"got {choice.finish_reasons}",
        answer.exchange,
    )


@pytest.mark.preset("extended")
def test_tool_choice_none(client: ApiClient, settings: Settings, model: str, mode: str) -> None:
    answer = _ask(client, settings, mode, model=model, tool_choice="none", max_tokens=8)
    choice = answer.said()  # a streamed answer's content is always a string, even empty
    ensure(
        not choice.tool_calls,
        NONE,
        f"tool_choice 'none' but the answer calls {[c.name for c in choice.tool_calls]}",
        answer.exchange,
    )
    ensure(
        isinstance(choice.content, str),
        NONE,
        f"tool_choice 'none' must answer in text, got content {choice.content!r}",
        answer.exchange,
    )


def test_tool_result_turn(client: ApiClient, settings: Settings, model: str, mode: str) -> None:
    messages = [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C."},
    ]
    body = {**chat_body(model, max_tokens=8, tools=[TOOL]), "messages": messages}
    exchange = request(client, "chat", body, mode, settings.profile)
    if exchange.status is not None and exchange.status != 200:
        fail(RESULT_TURN, f"the tool-result turn was answered {exchange.status}", exchange)
    answer = answer_of(exchange, "chat", mode, settings.profile)
    ensure(answer.choices, RESULT_TURN, "the answer to a tool result has no choice", exchange)
