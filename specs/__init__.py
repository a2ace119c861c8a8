"""The OpenAPI document for the OpenAI-compatible surface, and validators compiled from it.

Every other part of the project reads schemas through this module so that nobody restates a
schema in Python. A profile is "openai" (OpenAI's documented contract, the default) or a stack of
opt-in profiles written with commas, e.g. "openresponses,strict": each opt-in profile merges its
overlay objects (`x-openresponses`, `x-inferno-strict`) into the schemas that carry them.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "OPENRESPONSES_KEY",
    "OVERLAYS",
    "PROFILES",
    "STRICT_KEY",
    "Operation",
    "canonical_profile",
    "component_validator",
    "error_validator",
    "has_profile",
    "load_spec",
    "operation",
    "operations",
    "profile_parts",
    "profiled_spec",
    "request_validator",
    "response_validator",
    "schema_for",
    "spec_path",
    "stream_event_validator",
    "stream_event_validators",
    "validator_under",
    "with_document_refs",
]

# "openai", an opt-in profile, or opt-in profiles stacked with commas ("openresponses,strict").
Profile = str
PROFILES: tuple[str, ...] = ("openai", "openresponses", "strict")
STRICT_KEY = "x-inferno-strict"
OPENRESPONSES_KEY = "x-openresponses"
# The overlay key of each opt-in profile, in the order they are merged: where two overlays set
# the same keyword the later wins, except `required`, whose names are added to the list.
OVERLAYS: dict[str, str] = {"openresponses": OPENRESPONSES_KEY, "strict": STRICT_KEY}
# Validators resolve "#/..." references against this URI, which names the whole document.
_BASE_URI = "urn:inferno:openapi"
_JSON = "application/json"
_SSE = "text/event-stream"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Operation(NamedTuple):
    method: str  # upper case, e.g. "POST"
    path: str  # e.g. "/v1/chat/completions"
    operation_id: str
    streaming: bool  # the 200 response also documents text/event-stream


def spec_path() -> Path:
    """The openapi.yaml shipped inside the package."""
    return Path(__file__).resolve().parent / "openapi.yaml"


# libyaml's loader parses the document in a tenth of the pure-Python loader's time; every server
# and every suite run starts by loading it.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed document (cached and shared: do not mutate)."""
    with spec_path().open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_YAML_LOADER)


@functools.cache
def operations() -> list[Operation]:
    found = []
    for path, item in load_spec()["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            ok = op.get("responses", {}).get("200", {})
            streaming = _SSE in _deref(ok).get("content", {})
            found.append(Operation(method.upper(), path, op["operationId"], streaming))
    return found


def operation(operation_id: str) -> Operation:
    for op in operations():
        if op.operation_id == operation_id:
            return op
    raise KeyError(f"unknown operationId {operation_id!r}")


def request_validator(operation_id: str, profile: Profile = "openai") -> Draft202012Validator:
    """Validator of the JSON request body of an operation."""
    pointer = [*_operation_pointer(operation_id), "requestBody"]
    body = _resolve_pointer(pointer)
    if body is None:
        raise ValueError(f"{operation_id} has no request body")
    pointer = _follow_ref(pointer)
    return _validator(_pointer_to_ref([*pointer, "content", _JSON, "schema"]), _check(profile))


def response_validator(
    operation_id: str, status: int | str = 200, profile: Profile = "openai"
) -> Draft202012Validator:
    """Validator of the response body for a status (JSON, or text/plain for /metrics)."""
    responses = [*_operation_pointer(operation_id), "responses"]
    code = str(status)
    if code not in _resolve_pointer(responses):
        raise KeyError(f"{operation_id} documents no {code} response")
    pointer = _follow_ref([*responses, code])
    content = _resolve_pointer(pointer)["content"]
    media = _JSON if _JSON in content else next(m for m in content if m != _SSE)
    return _validator(_pointer_to_ref([*pointer, "content", media, "schema"]), _check(profile))


def stream_event_validator(operation_id: str, profile: Profile = "openai") -> Draft202012Validator:
    """Validator of ONE parsed SSE chunk (the JSON inside `data:`) of a streaming operation."""
    pointer = _follow_ref([*_operation_pointer(operation_id), "responses", "200"])
    media = _resolve_pointer(pointer).get("content", {}).get(_SSE)
    if media is None:
        raise ValueError(f"{operation_id} does not stream")
    found = _find_key(
        [*pointer, "content", _SSE, "itemSchema"], media["itemSchema"], "contentSchema"
    )
    if found is None:
        raise ValueError(f"{operation_id} has no contentSchema for its events")
    return _validator(_pointer_to_ref(found), _check(profile))


def stream_event_validators(
    operation_id: str, profile: Profile = "openai"
) -> dict[str, Draft202012Validator]:
    """One validator per event `type`, for streams whose event schema is a union keyed by type.

    Read from the union's `discriminator.mapping`; empty for streams of one chunk shape (chat,
    completions). A precise schema per type gives precise failure messages.
    """
    pointer = _follow_ref([*_operation_pointer(operation_id), "responses", "200"])
    media = _resolve_pointer(pointer).get("content", {}).get(_SSE)
    if media is None:
        raise ValueError(f"{operation_id} does not stream")
    found = _find_key(
        [*pointer, "content", _SSE, "itemSchema"], media["itemSchema"], "contentSchema"
    )
    content_schema: Any = load_spec()
    for part in found or ():
        content_schema = content_schema[int(part) if isinstance(content_schema, list) else part]
    union = _deref(content_schema) if found else {}
    mapping = (union.get("discriminator") or {}).get("mapping") or {}
    return {
        kind: _validator(_pointer_to_ref(_ref_to_pointer(ref)), _check(profile))
        for kind, ref in mapping.items()
    }


def error_validator(profile: Profile = "openai") -> Draft202012Validator:
    """Validator of the shared error envelope {"error": {message, type, param, code}}."""
    return component_validator("ErrorResponse", profile)


def component_validator(name: str, profile: Profile = "openai") -> Draft202012Validator:
    """Validator of components/schemas/<name> (e.g. a WebSocket-mode error event)."""
    if name not in load_spec()["components"]["schemas"]:
        raise KeyError(f"unknown schema {name!r}")
    return _validator(_component_ref(name), _check(profile))


def validator_under(validator: Draft202012Validator, profile: Profile) -> Draft202012Validator:
    """The validator of the same schema as one of this module's validators, under another
    profile (to tell what a stacked profile adds from what the base already asks)."""
    return _validator(validator.schema["$ref"], _check(profile))


def profile_parts(profile: Profile) -> frozenset[str]:
    """The opt-in profiles a profile stacks: {"openresponses", "strict"} for
    "openresponses,strict", none for "openai" (the base every profile builds on)."""
    parts = {part.strip() for part in str(profile).split(",") if part.strip()}
    unknown = sorted(parts - set(PROFILES))
    if unknown or not parts:
        raise ValueError(
            f"profile must be one of {PROFILES} or several joined with commas, not {profile!r}"
        )
    return frozenset(parts - {"openai"})


def has_profile(profile: Profile, name: str) -> bool:
    """Whether a profile stacks the opt-in profile `name` ("strict" in "openresponses,strict")."""
    return name in profile_parts(profile)


def canonical_profile(profile: Profile) -> str:
    """The one spelling of a stack: its opt-in profiles in `PROFILES` order, or "openai"."""
    parts = profile_parts(profile)
    return ",".join(p for p in PROFILES if p in parts) or "openai"


def profiled_spec(profile: Profile = "openai") -> dict[str, Any]:
    """The document as one profile sees it (cached and shared: do not mutate).

    Each opt-in profile of the stack merges its overlay objects (`OVERLAYS`) into the schema
    that carries them; "openai": the overlays removed, leaving OpenAI's documented contract.
    """
    return _profiled_spec(_check(profile))


def schema_for(name: str, profile: Profile = "openai") -> dict[str, Any]:
    """A self-contained copy of components/schemas/<name> with every $ref inlined."""
    doc = profiled_spec(_check(profile))
    schemas = doc["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"unknown schema {name!r}")
    resolved = _inline(schemas[name], doc, ())
    resolved["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return resolved


def with_document_refs(schema: Any) -> Any:
    """A copy of a schema taken from the document whose local references (`#/...`) name the
    document, so that a validator of this module (`evolve(schema=...)`) resolves them wherever
    the copy is used, not only where it sits in the document."""
    if isinstance(schema, list):
        return [with_document_refs(value) for value in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: f"{_BASE_URI}{value}"
        if key == "$ref" and isinstance(value, str) and value.startswith("#/")
        else with_document_refs(value)
        for key, value in schema.items()
    }


# ----------------------------------------------------------------------------- internals


def _check(profile: str) -> str:
    return canonical_profile(profile)


@functools.cache
def _profiled_spec(profile: str) -> dict[str, Any]:
    return _apply_overlays(copy.deepcopy(load_spec()), profile_parts(profile))


def _apply_overlays(node: Any, active: frozenset[str]) -> Any:
    if isinstance(node, dict):
        overlays = {name: node.pop(key, None) for name, key in OVERLAYS.items()}
        for value in node.values():
            _apply_overlays(value, active)
        for name, overlay in overlays.items():
            if name in active and overlay:
                _merge(node, overlay)
    elif isinstance(node, list):
        for value in node:
            _apply_overlays(value, active)
    return node


def _merge(node: dict[str, Any], overlay: dict[str, Any]) -> None:
    for keyword, value in overlay.items():
        known = node.get(keyword)
        if keyword == "required" and isinstance(known, list):
            node[keyword] = [*known, *(name for name in value if name not in known)]
        else:
            node[keyword] = copy.deepcopy(value)


@functools.cache
def _registry(profile: str) -> Registry:
    resource = Resource(contents=profiled_spec(profile), specification=DRAFT202012)
    return Registry().with_resource(_BASE_URI, resource)


@functools.cache
def _validator(ref: str, profile: str) -> Draft202012Validator:
    # No format checker: servers and schemathesis disagree on formats, and ours are annotations.
    return Draft202012Validator({"$ref": ref}, registry=_registry(profile))


def _operation_pointer(operation_id: str) -> list[str]:
    op = operation(operation_id)
    return ["paths", op.path, op.method.lower()]


def _resolve_pointer(pointer: list[str]) -> Any:
    node: Any = load_spec()
    for part in pointer:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _follow_ref(pointer: list[str]) -> list[str]:
    """Where a (possibly $ref'd) object really lives, e.g. components/responses/BadRequest."""
    for _ in range(8):  # refs to refs are legal but short; bound the chase
        node = _resolve_pointer(pointer)
        if not (isinstance(node, dict) and "$ref" in node):
            return pointer
        pointer = _ref_to_pointer(node["$ref"])
    raise ValueError(f"reference chain too long at {pointer}")


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve_pointer(_follow_ref(_ref_to_pointer(node["$ref"])))
    return node


def _find_key(pointer: list[str], node: Any, key: str) -> list[str] | None:
    if isinstance(node, dict):
        if key in node:
            return [*pointer, key]
        items = node.items()
    elif isinstance(node, list):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return None
    for name, value in items:
        found = _find_key([*pointer, name], value, key)
        if found is not None:
            return found
    return None


def _ref_to_pointer(ref: str) -> list[str]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]


def _pointer_to_ref(pointer: list[str]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in pointer)
    return f"{_BASE_URI}#/" + "/".join(escaped)


def _component_ref(name: str) -> str:
    return _pointer_to_ref(["components", "schemas", name])


def _inline(node: Any, doc: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(v, doc, seen) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"recursive schema through {ref}; cannot inline")
        target: Any = doc
        for part in _ref_to_pointer(ref):
            target = target[part]
        resolved = _inline(target, doc, (*seen, ref))
        siblings = {k: _inline(v, doc, seen) for k, v in node.items() if k != "$ref"}
        return {"allOf": [resolved], **siblings} if siblings else resolved
    return {k: _inline(v, doc, seen) for k, v in node.items()}
