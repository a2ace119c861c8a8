"""The JavaScript of the `pm.test` assertions, as lists of lines (Postman's `exec` format)."""

from __future__ import annotations

import json
from typing import Any

_PROVENANCE = (
    "// From specs/openapi.yaml, relabelled as draft-07 for Postman (postman/_schemas.py)."
)


def js(value: Any) -> str:
    """A JavaScript literal; JSON is valid JavaScript and sorted keys keep the output stable."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _const(name: str, value: Any) -> list[str]:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return f"const {name} = {text};".splitlines()


def status(code: int) -> list[str]:
    return [
        f"pm.test({js(f'status is {code}')}, function () {{",
        f"    pm.response.to.have.status({code});",
        "});",
    ]


def json_body_schema(schema: dict[str, Any], name: str) -> list[str]:
    """The whole JSON body matches a schema embedded from the spec."""
    return [
        _PROVENANCE,
        *_const("schema", schema),
        f"pm.test({js(f'body matches {name} from the spec')}, function () {{",
        "    pm.response.to.have.jsonSchema(schema);",
        "});",
    ]


def error_envelope(error_type: str, param: str | None, code: str | None) -> list[str]:
    """The envelope fields the error table promises; `None` means the row does not fix the value."""
    lines = [
        f"pm.test({js(f'error.type is {error_type}')}, function () {{",
        f"    pm.expect(pm.response.json().error.type).to.equal({js(error_type)});",
        "});",
    ]
    for field, expected in (("param", param), ("code", code)):
        if expected is not None:
            lines += [
                f"pm.test({js(f'error.{field} is {expected}')}, function () {{",
                f"    pm.expect(pm.response.json().error.{field}).to.equal({js(expected)});",
                "});",
            ]
    return lines


def sse_stream(chunk_schema: dict[str, Any], name: str) -> list[str]:
    """An SSE body that ends in `data: [DONE]`, every other data line a chunk from the spec."""
    return [
        _PROVENANCE,
        *_const("chunkSchema", chunk_schema),
        "const body = pm.response.text();",
        "const dataLines = body.split(/\\r?\\n/)",
        "    .filter(function (line) { return line.startsWith('data:'); })",
        "    .map(function (line) { return line.slice(5).trim(); });",
        'pm.test("content type is text/event-stream", function () {',
        "    pm.expect(pm.response.headers.get('Content-Type')).to.include('text/event-stream');",
        "});",
        'pm.test("stream ends with data: [DONE]", function () {',
        "    pm.expect(body.trimEnd().endsWith('data: [DONE]')).to.equal(true);",
        "    pm.expect(dataLines.indexOf('[DONE]')).to.equal(dataLines.length - 1);",
        "});",
        f"pm.test({js(f'every other data line parses as JSON and matches {name}')}, function () {{",
        "    const chunks = dataLines.slice(0, -1);",
        "    pm.expect(chunks.length).to.be.above(0);",
        "    chunks.forEach(function (data) {",
        "        pm.expect(JSON.parse(data)).to.have.jsonSchema(chunkSchema);",
        "    });",
        "});",
    ]


def skip_without_api_key(body: list[str], reason: str) -> list[str]:
    """Runs `body` only when an API key is set (a server without keys accepts any token)."""
    return [
        "if (!pm.variables.get('api_key')) {",
        f"    pm.test.skip({js(reason)}, function () {{}});",
        "} else {",
        *(f"    {line}" if line else line for line in body),
        "}",
    ]


def sse_typed_events(
    response_schema: dict[str, Any], event_schemas: dict[str, Any], schema_of_type: dict[str, str]
) -> list[str]:
    """A stream of events keyed by `type` (the Responses API): every event matches the schema of
    its type, sequence numbers increase, and it starts created and ends with a terminal event."""
    return [
        _PROVENANCE,
        *_const("responseSchema", response_schema),
        *_const("eventSchemas", event_schemas),
        *_const("schemaOfType", schema_of_type),
        "const terminal = ['response.completed', 'response.incomplete', 'response.failed'];",
        "const events = pm.response.text().split(/\\r?\\n/)",
        "    .filter(function (line) { return line.startsWith('data:'); })",
        "    .map(function (line) { return line.slice(5).trim(); })",
        "    .filter(function (data) { return data !== '[DONE]'; })",
        "    .map(function (data) { return JSON.parse(data); });",
        'pm.test("content type is text/event-stream", function () {',
        "    pm.expect(pm.response.headers.get('Content-Type')).to.include('text/event-stream');",
        "});",
        'pm.test("every event matches the schema of its type", function () {',
        "    pm.expect(events.length).to.be.above(0);",
        "    events.forEach(function (event) {",
        "        pm.expect(schemaOfType).to.have.property(event.type);",
        "        pm.expect(event).to.have.jsonSchema(eventSchemas[schemaOfType[event.type]]);",
        "        if (event.response !== undefined) {",
        "            pm.expect(event.response).to.have.jsonSchema(responseSchema);",
        "        }",
        "    });",
        "});",
        'pm.test("sequence numbers increase", function () {',
        "    for (let i = 1; i < events.length; i++) {",
        "        pm.expect(events[i].sequence_number).to.be.above(events[i - 1].sequence_number);",
        "    }",
        "});",
        'pm.test("response.created first, one terminal event last", function () {',
        "    pm.expect(events[0].type).to.equal('response.created');",
        "    pm.expect(terminal).to.include(events[events.length - 1].type);",
        "    const ends = events.filter(function (e) { return terminal.includes(e.type); });",
        "    pm.expect(ends.length).to.equal(1);",
        "});",
    ]
