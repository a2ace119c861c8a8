"""The shared tool-call machinery: plans, grammars and the scanner, without a server."""

from __future__ import annotations

import itertools
import json

import pytest
from llama_cpp import LlamaGrammar

from reference_server.errors import ApiError
from reference_server.tool_calls import (
    ArgumentsPiece,
    CallStarted,
    FunctionSpec,
    TextPiece,
    ToolCallScanner,
    tool_plan,
)

ADD = FunctionSpec(
    "add",
    "a + b",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
NOOP = FunctionSpec("noop", None, None)
CALL = '{"name": "add", "arguments": {"a": 1, "b": {"c": "}{\\"x"}}}'


def _scanner(mode: str = "required") -> ToolCallScanner:
    plan = tool_plan([ADD, NOOP], mode)
    assert plan is not None
    ids = itertools.count()
    return ToolCallScanner(plan, lambda: f"call_{next(ids)}")


def _feed_in_pieces(scanner: ToolCallScanner, text: str, size: int) -> list:
    pieces = []
    for start in range(0, len(text), size):
        pieces += scanner.feed(text[start : start + size])
    return pieces + scanner.finish()


def test_plan_modes_and_names() -> None:
    assert tool_plan([ADD], "none") is None
    assert tool_plan([], "required") is None
    required = tool_plan([ADD, NOOP], "required")
    auto = tool_plan([ADD, NOOP], "auto")
    assert required and required.required and required.names == ("add", "noop")
    assert auto and not auto.required
    only = tool_plan([ADD, NOOP], "required", ["noop"])
    assert only and only.names == ("noop",)
    with pytest.raises(ApiError) as caught:
        tool_plan([ADD], "required", ["missing"], param="tool_choice.name")
    assert caught.value.status == 400 and caught.value.param == "tool_choice.name"
    with pytest.raises(ApiError) as caught:
        tool_plan([ADD], "auto", [], param="tool_choice.tools")
    assert caught.value.param == "tool_choice.tools"


@pytest.mark.parametrize("mode", ["auto", "required"])
def test_grammars_compile(mode: str) -> None:
    plan = tool_plan([ADD, NOOP], mode)
    assert plan is not None
    LlamaGrammar.from_string(plan.grammar, verbose=False)  # raises on a malformed grammar
    # "auto" adds the free-text branch; "required" allows nothing but a call.
    assert ("free-text" in plan.grammar) == (mode == "auto")


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_arguments_stream_as_generated_and_join_to_the_call(size: int) -> None:
    scanner = _scanner()
    pieces = _feed_in_pieces(scanner, CALL + " ", size)
    assert pieces[0] == CallStarted("add", "call_0")
    fragments = [p.text for p in pieces[1:]]
    assert all(isinstance(p, ArgumentsPiece) for p in pieces[1:])
    expected = json.dumps(json.loads(CALL)["arguments"])
    assert json.loads("".join(fragments)) == json.loads(expected)
    if size == 1:
        assert len(fragments) > 10  # one fragment per generated piece, not one at the end
    result = scanner.result
    assert result is not None and result.complete
    assert result.arguments == "".join(fragments)


def test_a_call_cut_short_is_still_a_call_with_truncated_arguments() -> None:
    scanner = _scanner()
    cut = CALL[:40]
    pieces = _feed_in_pieces(scanner, cut, 3)
    assert isinstance(pieces[0], CallStarted)
    result = scanner.result
    assert result is not None and not result.complete
    assert cut.endswith(result.arguments) and result.arguments.startswith("{")


def test_a_call_cut_inside_its_name_names_the_function_it_began() -> None:
    scanner = _scanner()
    assert scanner.feed('{"name": "no') == []
    (started,) = scanner.finish()
    assert isinstance(started, CallStarted) and started.name == "noop"
    assert scanner.result is not None and scanner.result.arguments == ""


def test_auto_passes_text_through_at_once() -> None:
    scanner = _scanner("auto")
    assert scanner.feed("Hello {not a call}") == [TextPiece("Hello {not a call}")]
    assert scanner.finish() == [] and scanner.result is None


def test_auto_reads_a_leading_brace_as_a_call() -> None:
    scanner = _scanner("auto")
    pieces = _feed_in_pieces(scanner, CALL, 4)
    assert isinstance(pieces[0], CallStarted)
    assert scanner.result is not None and scanner.result.complete


def test_scalar_arguments_are_released_at_the_end() -> None:
    scanner = _scanner()
    pieces = _feed_in_pieces(scanner, '{"name": "add", "arguments": 42 } ', 2)
    assert pieces == [CallStarted("add", "call_0"), ArgumentsPiece("42")]
    assert scanner.result is not None and scanner.result.complete
