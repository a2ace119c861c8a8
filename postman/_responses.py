"""The Responses folder: create (JSON and streamed), then the stored response's life in order
(retrieve, input items, continue with previous_response_id, compact, delete, gone), token
counting and the error rows. Later requests use the id the first one saves in the `response_id`
variable."""

from __future__ import annotations

from ._requests import Case, ErrorRow, Folder, _bound, _invalid, _post, _unknown_model

OP = "createResponse"
COMPACT = "compactResponse"
RESPONSE_ID = "{{response_id}}"
UNKNOWN_RESPONSE = "resp_inferno_no_such_response"
NOT_FOUND = ErrorRow("invalid_request_error")


def _path(operation_id: str, response_id: str = RESPONSE_ID) -> str:
    from . import _schemas

    return _schemas.operation_path(operation_id).replace("{response_id}", response_id)


def responses_folder() -> Folder:
    body = {"model": "{{model}}", "input": "Say hello.", "max_output_tokens": 16}
    minimum = _bound(OP, "max_output_tokens", "minimum")
    too_hot = _bound(OP, "temperature", "maximum") + 1
    return Folder(
        "Responses",
        "The Responses API. Run the folder in order: the first request stores a response whose "
        "id (`response_id`) the later ones retrieve, list, continue and delete.",
        (
            _post(
                OP,
                "Create a response",
                body,
                200,
                checks=(
                    'pm.test("a finished response with an id", function () {',
                    "    const response = pm.response.json();",
                    "    pm.expect(['completed', 'incomplete']).to.include(response.status);",
                    "    pm.collectionVariables.set('response_id', response.id);",
                    "});",
                ),
            ),
            _post(OP, "Create a response, streamed", {**body, "stream": True}, 200, stream=True),
            Case(
                "Retrieve the stored response",
                "GET",
                _path("getResponse"),
                200,
                "getResponse",
                checks=(
                    'pm.test("the id is the stored one", function () {',
                    "    pm.expect(pm.response.json().id).to.equal("
                    "pm.collectionVariables.get('response_id'));",
                    "});",
                ),
            ),
            Case(
                "List its input items",
                "GET",
                _path("listResponseInputItems"),
                200,
                "listResponseInputItems",
                checks=(
                    'pm.test("one input message", function () {',
                    "    pm.expect(pm.response.json().data.length).to.equal(1);",
                    "});",
                ),
            ),
            _post(
                OP,
                "Continue it with previous_response_id",
                {**body, "input": "Say it again.", "previous_response_id": RESPONSE_ID},
                200,
                checks=(
                    'pm.test("previous_response_id is repeated", function () {',
                    "    pm.expect(pm.response.json().previous_response_id).to.equal("
                    "pm.collectionVariables.get('response_id'));",
                    "});",
                ),
            ),
            _post(
                COMPACT,
                "Compact it",
                {"model": "{{model}}", "previous_response_id": RESPONSE_ID, "input": "Compact."},
                200,
                checks=(
                    'pm.test("user messages kept, one compaction item last", function () {',
                    "    const output = pm.response.json().output;",
                    "    pm.expect(output[output.length - 1].type).to.equal('compaction');",
                    "    output.slice(0, -1).forEach(function (item) {",
                    "        pm.expect(item.role).to.equal('user');",
                    "    });",
                    "});",
                ),
                description="The window to send back as input: user messages and a summary.",
            ),
            _post(
                "countResponseInputTokens",
                "Count input tokens",
                {"model": "{{model}}", "input": "Say hello."},
                200,
                checks=(
                    'pm.test("a positive count", function () {',
                    "    pm.expect(pm.response.json().input_tokens).to.be.above(0);",
                    "});",
                ),
            ),
            Case(
                "Delete the stored response",
                "DELETE",
                _path("deleteResponse"),
                200,
                "deleteResponse",
            ),
            Case(
                "Retrieve the deleted response (404)",
                "GET",
                _path("getResponse"),
                404,
                "getResponse",
                error=NOT_FOUND,
                description="A deleted (or evicted, or never stored) response is 404.",
            ),
            _invalid(OP, {"input": body["input"]}, "model", "Missing model (400)"),
            _invalid(
                OP,
                {**body, "temperature": too_hot},
                "temperature",
                f"temperature = {too_hot} out of range (400)",
            ),
            _invalid(
                OP,
                {**body, "max_output_tokens": minimum - 1},
                "max_output_tokens",
                f"max_output_tokens = {minimum - 1}, below OpenAI's minimum (400)",
            ),
            _unknown_model(OP, body),
            _invalid(COMPACT, {"input": "Compact."}, "model", "Compact without model (400)"),
            _post(
                COMPACT,
                "Compact an unknown previous_response_id (404)",
                {"model": "{{model}}", "previous_response_id": UNKNOWN_RESPONSE},
                404,
                error=ErrorRow(
                    "invalid_request_error",
                    param="previous_response_id",
                    code="previous_response_not_found",
                ),
                description="Compacting a response the server does not hold is 404.",
            ),
            _post(
                OP,
                "Unknown previous_response_id (404)",
                {**body, "previous_response_id": UNKNOWN_RESPONSE},
                404,
                error=ErrorRow("invalid_request_error", param="previous_response_id"),
                description="Continuing a response the server does not hold is 404.",
            ),
        ),
    )
