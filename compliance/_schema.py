"""Validate bodies and SSE chunks against specs/ and explain the first violations precisely."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import jsonschema

import specs
from compliance._failure import fail_soft
from compliance._openresponses_rules import FIELDS as OPENRESPONSES_FIELDS
from compliance.rules import Rule

if TYPE_CHECKING:
    from compliance._client import Exchange


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    # anyOf/oneOf errors hide the useful cause in their context: take the branch the instance
    # came closest to (fewest errors, then the deepest), not the one a generic heuristic picks,
    # so a tool call with object arguments is explained as such, not as "not a custom tool".
    if not error.context:
        return [error]
    branches: dict[object, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
    closest = min(
        branches.values(),
        key=lambda errs: (len(errs), -max(len(list(e.absolute_path)) for e in errs)),
    )
    deepest = max(closest, key=lambda e: len(list(e.absolute_path)))
    return _leaf_errors(deepest)


def _absent_nullable(
    validator: jsonschema.protocols.Validator, error: jsonschema.ValidationError
) -> str | None:
    """The key a `required` error reports absent, where its schema allows null (OpenAI sends
    such keys as null: `finish_reason` in a chunk, `refusal`); None for any other error."""
    if error.validator != "required" or not isinstance(error.schema, dict):
        return None
    names = [n for n in error.validator_value if f"{n!r} is a required property" == error.message]
    schema = (error.schema.get("properties") or {}).get(names[0]) if names else None
    if schema is None:
        return None
    nullable = validator.evolve(schema=specs.with_document_refs(schema)).is_valid(None)
    return names[0] if nullable else None


def _message(validator: jsonschema.protocols.Validator, error: jsonschema.ValidationError) -> str:
    """jsonschema's message, except for a required key that may be null: "'x' is a required
    property" reads as if any value were missing, where sending null would have done."""
    name = _absent_nullable(validator, error)
    return f"{name!r}: key absent (null is allowed)" if name else error.message


def explain(validator: jsonschema.protocols.Validator, instance: Any, limit: int = 3) -> list[str]:
    """Human-readable violations: JSON path, the failed keyword (the rule) and the message."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: len(list(e.absolute_path)))
    lines: list[str] = []
    for error in errors[:limit]:
        for leaf in _leaf_errors(error)[:1]:
            text = _message(validator, leaf)
            message = text if len(text) < 300 else text[:300] + "..."
            lines.append(
                f"at {_json_path(leaf.absolute_path)}: {message} (schema keyword: {leaf.validator})"
            )
    return lines


def violations(
    validator: jsonschema.protocols.Validator, instance: Any, limit: int = 3
) -> list[tuple[str, str, str]]:
    """(path, what, explanation) per distinct violated path, the first `limit`: the path and
    what are the same whatever ids or values the body holds, so one missing field is one root
    cause however many checks read that body, and two faults of one body are two."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: len(list(e.absolute_path)))
    found: dict[str, tuple[str, str, str]] = {}
    for error in errors[: 10 * limit]:  # bounded: a body may break thousands of times
        leaf = _leaf_errors(error)[0]
        path = re.sub(r"\[\d+\]", "[*]", _json_path(leaf.absolute_path))
        if path in found:
            continue
        if leaf.validator == "required":
            what = _message(validator, leaf)
        elif leaf.validator in ("type", "enum", "const", "format", "minimum", "maximum"):
            what = f"{leaf.validator} {str(leaf.validator_value)[:80]}"
        else:
            what = str(leaf.validator)
        text = _message(validator, leaf)
        text = text if len(text) < 300 else text[:300] + "..."
        line = f"at {_json_path(leaf.absolute_path)}: {text} (schema keyword: {leaf.validator})"
        found[path] = (path, what, line)
        if len(found) == limit:
            break
    return list(found.values())


def first_violation(
    validator: jsonschema.protocols.Validator, instance: Any
) -> tuple[str, str] | None:
    """(path, what) of the first violation (see `violations`)."""
    found = violations(validator, instance, limit=1)
    return (found[0][0], found[0][1]) if found else None


def check(
    validator: jsonschema.protocols.Validator,
    instance: Any,
    rule: Rule,
    exchange: Exchange | None,
    what: str = "response body",
    scope: str = "",
    by_path: dict[str, Rule] | None = None,
    profile: str = "openai",
) -> None:
    """Fail with `rule`, or with the rule `by_path` names for the path of a violation: once per
    distinct violated path, each its own deviation. Under a profile stacking `openresponses`
    (the validator's), a violation the schema without it does not find is Open Responses' own.

    Softly: the body is still read, so the check goes on to its behaviour checks and reports
    what else is wrong; it fails at its end (`_failure.fail_soft`)."""
    found = violations(validator, instance)
    added = _added_by_openresponses(validator, instance, profile, found)
    for path, what_failed, line in found:
        fail_soft(
            OPENRESPONSES_FIELDS
            if (path, what_failed) in added
            else (by_path or {}).get(path, rule),
            f"{what} violates the spec:\n    {line}",
            exchange,
            cause=f"{scope} {path}: {what_failed}".strip(),
        )


def _added_by_openresponses(
    validator: jsonschema.protocols.Validator,
    instance: Any,
    profile: str,
    found: list[tuple[str, str, str]],
) -> set[tuple[str, str]]:
    """(path, what) of the violations the same schema finds without `openresponses`: the ones
    a server commits against OpenAI's contract (or strict's) whatever the stack."""
    parts = specs.profile_parts(profile)
    if "openresponses" not in parts or not found:
        return set()
    base = specs.validator_under(validator, ",".join(parts - {"openresponses"}) or "openai")
    known = {(path, what) for path, what, _ in violations(base, instance, limit=10)}
    return {(path, what) for path, what, _ in found} - known


def response(operation_id: str, status: int, profile: str) -> jsonschema.protocols.Validator:
    return specs.response_validator(operation_id, status, profile=profile)


def chunk(operation_id: str, profile: str) -> jsonschema.protocols.Validator:
    return specs.stream_event_validator(operation_id, profile=profile)


def chunks_by_type(operation_id: str, profile: str) -> dict[str, Any]:
    """One validator per event `type` for streams keyed by type (empty for chat streams)."""
    return specs.stream_event_validators(operation_id, profile=profile)


def error_envelope(profile: str) -> jsonschema.protocols.Validator:
    return specs.error_validator(profile=profile)
