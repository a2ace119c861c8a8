"""One tool-call machinery for chat completions and Responses.

`tool_plan` decides which functions a request lets the model call and builds the grammar that
constrains the output; `ToolCallScanner` reads one choice's generated text as either plain text
or one call, and hands out the call's argument fragments as they are generated. Both APIs only
differ in how they spell tools and how they format the pieces.

The model writes a call as one JSON object `{"name": <function>, "arguments": <object>}`. With
`tool_choice: "auto"` the grammar also allows free text that does not start with `{`: the first
character decides, so an agent loop ends as soon as the model answers in text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from .engine import TokenLogprob
from .errors import invalid_request

CALL_RULE = "tool-call"
# Free text: anything whose first character is not the `{` that opens a call (or nothing).
_FREE_TEXT = "free-text ::= ([^{] .*)?"
_PREFIX = re.compile(r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:')
_PARTIAL_NAME = re.compile(r'\{\s*"name"\s*:\s*"([^"\\]*)')


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """The functions a call may name and the grammar that constrains the output to them."""

    functions: tuple[FunctionSpec, ...]
    grammar: str
    required: bool  # False ("auto"): the model may answer in text instead

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.functions)


def tool_plan(
    functions: Sequence[FunctionSpec],
    mode: str,
    only: Collection[str] | None = None,
    *,
    param: str = "tool_choice",
) -> ToolPlan | None:
    """The plan for `mode` ("none" | "auto" | "required"), limited to the names in `only`."""
    if mode == "none" or not functions:
        return None
    chosen = list(functions)
    if only is not None:
        known = {f.name for f in functions}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise invalid_request(f"tool_choice names an unknown function '{unknown[0]}'", param)
        chosen = [f for f in functions if f.name in set(only)]
        if not chosen:
            raise invalid_request("tool_choice allows no function", param)
    required = mode == "required"
    return ToolPlan(tuple(chosen), _grammar(chosen, required), required)


def _grammar(functions: Sequence[FunctionSpec], required: bool) -> str:
    from llama_cpp.llama_grammar import SchemaConverter

    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f.name},
                "arguments": f.parameters or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for f in functions
    ]
    schema = variants[0] if len(variants) == 1 else {"anyOf": variants}
    converter = SchemaConverter(
        prop_order={"name": 0, "arguments": 1}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    try:
        converter.visit(converter.resolve_refs(schema, "tools"), CALL_RULE)
        rules = converter.format_grammar()
    except Exception as exc:  # an unsupported schema is a client error, not a crash
        raise invalid_request(f"unsupported JSON schema in tools: {exc}", "tools") from exc
    root = (
        f"root ::= {CALL_RULE}" if required else f"root ::= {CALL_RULE} | free-text\n{_FREE_TEXT}"
    )
    return f"{rules.rstrip()}\n{root}\n"


# -- reading generated text --------------------------------------------------------------------


@dataclass(slots=True)
class TextPiece:
    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CallStarted:
    name: str
    call_id: str


@dataclass(frozen=True, slots=True)
class ArgumentsPiece:
    text: str


Piece = TextPiece | CallStarted | ArgumentsPiece


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    call_id: str
    arguments: str  # a JSON string; cut short when the token limit ended the call
    complete: bool


class ToolCallScanner:
    """Reads one choice's text as it is generated: plain text, or one call.

    Text pieces pass through at once. A call is announced once its name is known, then its
    arguments follow character by character as they are generated; only a scalar argument value
    (not an object or array) is held back until the end, where its extent is known.
    """

    def __init__(self, plan: ToolPlan, new_call_id: Callable[[], str]) -> None:
        self._plan = plan
        self._new_call_id = new_call_id
        self._kind: str | None = None  # "text" | "call" once the first character is known
        self._head = ""  # a call's text until its name is known
        self._call: CallStarted | None = None
        self._arguments: list[str] = []
        self._held = ""  # a scalar argument value, released at the end
        self._scalar = False
        self._depth = 0
        self._started = False
        self._in_string = False
        self._escape = False
        self._closed = False  # the argument value ended
        self._outer_closed = False  # ... and the `}` of the call object followed
        self.result: ToolCall | None = None

    @property
    def is_call(self) -> bool:
        return self._kind == "call"

    def feed(self, text: str, logprobs: list[TokenLogprob] | None = None) -> list[Piece]:
        if not text:
            return []
        if self._kind is None:
            self._kind = "call" if text[0] == "{" or self._plan.required else "text"
        if self._kind == "text":
            return [TextPiece(text, list(logprobs or ()))]
        if self._call is not None:
            return self._argument_pieces(text)
        self._head += text
        match = _PREFIX.match(self._head)
        if match is None:
            return []
        name = json.loads(match.group(1))
        self._call = CallStarted(self._known_name(name), self._new_call_id())
        rest = self._head[match.end() :]
        self._head = ""
        return [self._call, *self._argument_pieces(rest)]

    def finish(self) -> list[Piece]:
        """Pieces still held back; afterwards `result` holds the call (None for text)."""
        if self._kind != "call":
            return []
        pieces: list[Piece] = []
        if self._call is None:
            partial = _PARTIAL_NAME.match(self._head)
            self._call = CallStarted(
                self._known_name(partial.group(1) if partial else ""), self._new_call_id()
            )
            pieces.append(self._call)
        if self._scalar:
            value = self._held.rstrip()
            self._outer_closed = self._closed = value.endswith("}")
            value = value.removesuffix("}").rstrip()
            if value:
                self._arguments.append(value)
                pieces.append(ArgumentsPiece(value))
        self.result = ToolCall(
            self._call.name,
            self._call.call_id,
            "".join(self._arguments),
            complete=self._closed and self._outer_closed,
        )
        return pieces

    def _known_name(self, name: str) -> str:
        """The function a (possibly cut) name stands for: the first listed one it begins."""
        return next((n for n in self._plan.names if n.startswith(name)), self._plan.names[0])

    def _argument_pieces(self, text: str) -> list[Piece]:
        out = []
        for char in text:
            if self._scalar:
                self._held += char  # a scalar value's end is only known at the finish
            elif self._closed:
                self._outer_closed = self._outer_closed or char == "}"
            elif not self._started and char.isspace():
                continue
            elif not self._started and char not in "{[":
                self._started = self._scalar = True
                self._held = char
            else:
                self._started = True
                self._advance(char)
                out.append(char)
        if not out:
            return []
        piece = "".join(out)
        self._arguments.append(piece)
        return [ArgumentsPiece(piece)]

    def _advance(self, char: str) -> None:
        if self._in_string:
            if self._escape:
                self._escape = False
            elif char == "\\":
                self._escape = True
            elif char == '"':
                self._in_string = False
            return
        if char == '"':
            self._in_string = True
        elif char in "{[":
            self._depth += 1
        elif char in "}]":
            self._depth -= 1
            if self._depth == 0:
                self._closed = True
