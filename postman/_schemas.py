"""Schemas taken from `specs/` for the collection, in the dialect Postman can check.

Postman and newman check `pm.response.to.have.jsonSchema(...)` with Ajv 6, which knows JSON Schema
draft-07 and older. Our schemas are OpenAPI 3.1 (JSON Schema 2020-12), and `specs.schema_for` marks
them with the 2020-12 `$schema`: Ajv 6 does not know that meta-schema and throws "no schema with key
or ref" instead of validating. The subset the spec uses is read the same way by both drafts
(`type: [x, "null"]` lists, `enum`, `anyOf`/`oneOf`, `required`, bounds), so the embedded copy is
relabelled as draft-07 and loses only annotations draft-07 lacks. A keyword that *asserts*
something only in later drafts would be ignored by Ajv 6 and weaken the check without a sound, so
the conversion refuses it instead.
"""

from __future__ import annotations

from typing import Any

import specs

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

# Annotations newer than draft-07: dropping them changes no verdict.
_LATER_ANNOTATIONS = frozenset({"deprecated", "contentSchema", "$anchor", "$vocabulary"})
# Assertions newer than draft-07 (or whose meaning changed): Ajv 6 would skip them silently.
_LATER_ASSERTIONS = frozenset(
    {
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$defs",
        "$ref",  # schema_for inlines every reference; one left over would dangle in the copy
        "prefixItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "dependentRequired",
        "dependentSchemas",
        "minContains",
        "maxContains",
    }
)
# Where a keyword's value is a schema, a list of schemas, or a name -> schema map. Everything else
# (enum, const, default, examples...) is data and must not be rewritten.
_ONE_SCHEMA = frozenset(
    {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties"})


def to_draft07(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a self-contained 2020-12 schema that Ajv 6 validates with the same verdicts."""
    converted = _convert(schema, ())
    converted["$schema"] = DRAFT_07
    return converted


def schema(name: str, profile: specs.Profile = "openai") -> dict[str, Any]:
    """components/schemas/<name>, inlined by the spec loader, in the draft-07 dialect."""
    return to_draft07(specs.schema_for(name, profile))


def request_schema_name(operation_id: str) -> str:
    """The components/schemas name of an operation's JSON request body."""
    body = _deref(_operation(operation_id)["requestBody"])
    return _schema_name(body["content"]["application/json"]["schema"])


def response_schema_name(operation_id: str | None, status: int) -> str:
    """The schema name of a JSON response; `None` reads the shared NotFound response (no route)."""
    if operation_id is None:
        response = specs.load_spec()["components"]["responses"]["NotFound"]
    else:
        response = _deref(_operation(operation_id)["responses"][str(status)])
    return _schema_name(response["content"]["application/json"]["schema"])


def stream_chunk_schema_name(operation_id: str) -> str:
    """The schema name of the JSON inside one `data:` line of a streaming operation."""
    response = _deref(_operation(operation_id)["responses"]["200"])
    found = _find_key(response["content"]["text/event-stream"]["itemSchema"], "contentSchema")
    if found is None:
        raise ValueError(f"{operation_id} documents no contentSchema for its events")
    return _schema_name(found)


def stream_event_schema_names(operation_id: str) -> dict[str, str]:
    """Event type -> schema name, for streams whose events are keyed by `type` (else empty)."""
    union = specs.load_spec()["components"]["schemas"][stream_chunk_schema_name(operation_id)]
    mapping = (union.get("discriminator") or {}).get("mapping") or {}
    return {kind: ref.rsplit("/", 1)[-1] for kind, ref in mapping.items()}


def without_response(schema: dict[str, Any]) -> dict[str, Any]:
    """An event schema with its embedded `response` object left to a separate check.

    Six lifecycle events each carry a whole Response; validating it once, with one shared
    schema, keeps the collection a few hundred kilobytes smaller.
    """
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict) and "response" in value:
                value = {**value, "response": {"type": "object"}}
            out[key] = without_response(value)
        return out
    if isinstance(schema, list):
        return [without_response(v) for v in schema]
    return schema


def operation_path(operation_id: str) -> str:
    return specs.operation(operation_id).path


def default_server_url() -> str:
    return specs.load_spec()["servers"][0]["url"]


# ----------------------------------------------------------------------------- internals


def _convert(node: dict[str, Any], where: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _LATER_ANNOTATIONS:
            continue
        if key in _LATER_ASSERTIONS:
            path = "/".join(where) or "(root)"
            raise ValueError(f"{key!r} at {path} has no draft-07 meaning; Postman would ignore it")
        if key in _ONE_SCHEMA and isinstance(value, dict):
            out[key] = _convert(value, (*where, key))
        elif key in _SCHEMA_LISTS:
            out[key] = [_convert(v, (*where, key, str(i))) for i, v in enumerate(value)]
        elif key in _SCHEMA_MAPS:
            out[key] = {k: _convert(v, (*where, key, k)) for k, v in value.items()}
        else:
            out[key] = value
    return out


def _operation(operation_id: str) -> dict[str, Any]:
    op = specs.operation(operation_id)
    return specs.load_spec()["paths"][op.path][op.method.lower()]


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    """Follows a local `#/components/...` reference (one level is all the spec uses here)."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = specs.load_spec()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def _schema_name(node: dict[str, Any]) -> str:
    ref = node.get("$ref", "")
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise ValueError(f"expected a reference to a named schema, got {node!r}")
    return ref.removeprefix(prefix)


def _find_key(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        if key in node:
            return node[key]
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_key(child, key)
        if found is not None:
            return found
    return None
