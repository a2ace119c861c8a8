"""Which requests the collection sends and what each must get back.

One folder per route: its happy paths, then one request per row of the error table that applies
to it. Out-of-range values are read from the spec's bounds (one step past them), so a changed bound
moves the request with it. Response schemas are looked up by the generator, not named here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import specs

from . import _schemas

UNKNOWN_MODEL = "inferno-no-such-model"
UNKNOWN_ROUTE = "/v1/no-such-route"
WRONG_API_KEY = "inferno-wrong-api-key"
INVALID = "invalid_request_error"


@dataclass(frozen=True)
class Repeat:
    """A long string in a body, built by a pre-request script instead of stored in the file."""

    variable: str
    char: str
    count: int

    def text(self) -> str:
        return self.char * self.count


@dataclass(frozen=True)
class ErrorRow:
    type: str
    param: str | None = None  # None: the row does not name a parameter
    code: str | None = None  # None: the row does not fix a code


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # may hold {{variables}}
    status: int
    operation_id: str | None  # the spec operation documenting the response; None for no route
    body: dict[str, Any] | None = None
    profile: specs.Profile = "openai"
    stream: bool = False
    error: ErrorRow | None = None
    bearer: str | None = None  # replaces the collection's {{api_key}} for this request
    checks: tuple[str, ...] = ()  # extra JavaScript lines for the test script
    description: str = ""


@dataclass(frozen=True)
class Folder:
    name: str
    description: str
    cases: tuple[Case, ...] = field(default_factory=tuple)


def folders() -> list[Folder]:
    from ._responses import responses_folder  # it builds on the helpers below

    return [
        _models(),
        _chat(),
        _completions(),
        _embeddings(),
        responses_folder(),
        _strict(),
        _any_route(),
    ]


# ----------------------------------------------------------------------------- spec bounds


def _bound(operation_id: str, name: str, keyword: str) -> Any:
    schema = specs.schema_for(_schemas.request_schema_name(operation_id))
    return schema["properties"][name][keyword]


def _out_of_range(operation_id: str) -> list[tuple[str, Any]]:
    """(parameter, value) pairs one step outside the spec's documented range."""
    return [
        ("temperature", _bound(operation_id, "temperature", "maximum") + 1),
        ("top_p", _bound(operation_id, "top_p", "maximum") + 1),
        ("max_tokens", _bound(operation_id, "max_tokens", "minimum") - 1),
    ]


def _input_limit(keyword: str, profile: specs.Profile) -> int:
    return specs.schema_for("EmbeddingInputString", profile)[keyword]


# ----------------------------------------------------------------------------- shared rows


def _post(operation_id: str, name: str, body: dict[str, Any], status: int, **kw: Any) -> Case:
    path = _schemas.operation_path(operation_id)
    return Case(name, "POST", path, status, operation_id, body, **kw)


def _invalid(operation_id: str, body: dict[str, Any], param: str, name: str) -> Case:
    return _post(
        operation_id,
        name,
        body,
        400,
        error=ErrorRow(INVALID, param=param),
        description=f"Error table: `{param}` fails validation, 400 `{INVALID}` naming it.",
    )


def _unknown_model(operation_id: str, body: dict[str, Any]) -> Case:
    return _post(
        operation_id,
        "Unknown model (404 model_not_found)",
        {**body, "model": UNKNOWN_MODEL},
        404,
        error=ErrorRow(INVALID, param="model", code="model_not_found"),
        description="Error table: a model the server does not serve is 404 `model_not_found`.",
    )


def _generation_errors(operation_id: str, body: dict[str, Any]) -> list[Case]:
    without_model = {k: v for k, v in body.items() if k != "model"}
    cases = [_invalid(operation_id, without_model, "model", "Missing model (400)")]
    for param, value in _out_of_range(operation_id):
        name = f"{param} = {value} out of range (400)"
        cases.append(_invalid(operation_id, {**body, param: value}, param, name))
    cases.append(_unknown_model(operation_id, body))
    return cases


# ----------------------------------------------------------------------------- folders


def _models() -> Folder:
    listed = _schemas.operation_path("listModels")
    one = _schemas.operation_path("retrieveModel").replace("{model}", "{{model}}")
    unknown = _schemas.operation_path("retrieveModel").replace("{model}", UNKNOWN_MODEL)
    return Folder(
        "Models",
        "GET /v1/models and GET /v1/models/{model}.",
        (
            Case(
                "List models",
                "GET",
                listed,
                200,
                "listModels",
                checks=(
                    'pm.test("the list includes {{model}}", function () {',
                    "    const ids = pm.response.json().data.map(function (m) { return m.id; });",
                    "    pm.expect(ids).to.include(pm.variables.get('model'));",
                    "});",
                ),
            ),
            Case(
                "Retrieve model",
                "GET",
                one,
                200,
                "retrieveModel",
                checks=(
                    'pm.test("id is {{model}}", function () {',
                    "    pm.expect(pm.response.json().id).to.equal(pm.variables.get('model'));",
                    "});",
                ),
            ),
            Case(
                "Retrieve unknown model (404 model_not_found)",
                "GET",
                unknown,
                404,
                "retrieveModel",
                error=ErrorRow(INVALID, param="model", code="model_not_found"),
                description="Error table: a model the server does not serve is 404.",
            ),
        ),
    )


def _chat() -> Folder:
    op = "createChatCompletion"
    body = {
        "model": "{{model}}",
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
    }
    return Folder(
        "Chat completions",
        "POST /v1/chat/completions.",
        (
            _post(
                op,
                "Chat completion",
                body,
                200,
                checks=(
                    'pm.test("one choice with an assistant message", function () {',
                    "    const choices = pm.response.json().choices;",
                    "    pm.expect(choices.length).to.equal(1);",
                    "    pm.expect(choices[0].message.role).to.equal('assistant');",
                    "});",
                ),
            ),
            _post(op, "Chat completion, streamed", {**body, "stream": True}, 200, stream=True),
            *_generation_errors(op, body),
        ),
    )


def _completions() -> Folder:
    op = "createCompletion"
    body = {"model": "{{model}}", "prompt": "Once upon a time", "max_tokens": 8}
    return Folder(
        "Completions",
        "POST /v1/completions (legacy).",
        (
            _post(
                op,
                "Completion",
                body,
                200,
                checks=(
                    'pm.test("one choice with text", function () {',
                    "    const choices = pm.response.json().choices;",
                    "    pm.expect(choices.length).to.equal(1);",
                    "    pm.expect(choices[0].text).to.be.a('string');",
                    "});",
                ),
            ),
            *_generation_errors(op, body),
        ),
    )


def _embeddings() -> Folder:
    op = "createEmbedding"
    body = {"model": "{{embedding_model}}", "input": "The quick brown fox."}
    empty = "x" * (_input_limit("minLength", "openai") - 1)
    return Folder(
        "Embeddings",
        "POST /v1/embeddings.",
        (
            _post(
                op,
                "Embeddings, float",
                {**body, "encoding_format": "float"},
                200,
                checks=(
                    'pm.test("one vector of numbers", function () {',
                    "    const data = pm.response.json().data;",
                    "    pm.expect(data.length).to.equal(1);",
                    "    pm.expect(data[0].embedding).to.be.an('array').that.is.not.empty;",
                    "});",
                ),
            ),
            _post(
                op,
                "Embeddings, base64",
                {**body, "encoding_format": "base64"},
                200,
                checks=(
                    'pm.test("one base64 string of float32 values", function () {',
                    "    const data = pm.response.json().data;",
                    "    pm.expect(data.length).to.equal(1);",
                    "    const raw = data[0].embedding;",
                    "    pm.expect(raw).to.be.a('string');",
                    "    // Decoding and re-encoding gives the same text only for valid base64.",
                    "    const bytes = Buffer.from(raw, 'base64');",
                    "    pm.expect(bytes.toString('base64')).to.equal(raw);",
                    "    pm.expect(bytes.length).to.be.above(0);",
                    "    pm.expect(bytes.length % 4).to.equal(0);",
                    "});",
                ),
            ),
            _invalid(op, {"input": body["input"]}, "model", "Missing model (400)"),
            _invalid(op, {**body, "input": empty}, "input", "Empty input (400)"),
            _unknown_model(op, body),
        ),
    )


def _strict() -> Folder:
    op = "createEmbedding"
    count = _input_limit("maxLength", "strict") + 1
    body = {"model": "{{embedding_model}}", "input": Repeat("long_input", "a", count)}
    return Folder(
        "Strict profile",
        "Rows a server enforces only under the strict profile (`x-inferno-strict` in the spec). "
        "The reference server enforces them; a server following only OpenAI's contract need not.",
        (
            _post(
                op,
                f"Embeddings input of {count} characters (400)",
                body,
                400,
                profile="strict",
                error=ErrorRow(INVALID, param="input"),
                description=f"Strict error table: an input over {count - 1} characters is 400.",
            ),
        ),
    )


def _any_route() -> Folder:
    return Folder(
        "Any route",
        "Rows of the error table that do not belong to one route.",
        (
            Case(
                "Unknown route (404)",
                "GET",
                UNKNOWN_ROUTE,
                404,
                None,
                error=ErrorRow(INVALID),
                description="Error table: a path the server does not serve is 404 in the envelope.",
            ),
            Case(
                "Bad API key (401)",
                "GET",
                _schemas.operation_path("listModels"),
                401,
                "listModels",
                error=ErrorRow("authentication_error", code="invalid_api_key"),
                bearer=WRONG_API_KEY,
                description="Error table: a wrong bearer token is 401 `authentication_error`. "
                "Skipped when `api_key` is empty: a server without keys accepts any token.",
            ),
        ),
    )
