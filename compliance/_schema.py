"""Validate bodies and SSE chunks against specs/ and explain the first violations precisely."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jsonschema

import specs
from compliance._failure import fail

if TYPE_CHECKING:
    from compliance._client import Exchange


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    # anyOf/oneOf errors hide the useful cause in their context; take the deepest ones.
    if not error.context:
        return [error]
    best = jsonschema.exceptions.best_match(error.context)
    return _leaf_errors(best) if best is not None else [error]


def explain(validator: jsonschema.protocols.Validator, instance: Any, limit: int = 3) -> list[str]:
    """Human-readable violations: JSON path, the failed keyword (the rule) and the message."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: len(list(e.absolute_path)))
    lines: list[str] = []
    for error in errors[:limit]:
        for leaf in _leaf_errors(error)[:1]:
            message = leaf.message if len(leaf.message) < 300 else leaf.message[:300] + "..."
            lines.append(
                f"at {_json_path(leaf.absolute_path)}: {message} (schema keyword: {leaf.validator})"
            )
    return lines


def check(
    validator: jsonschema.protocols.Validator,
    instance: Any,
    rule: str,
    exchange: Exchange | None,
    what: str = "response body",
) -> None:
    problems = explain(validator, instance)
    if problems:
        fail(rule, f"{what} violates the spec:\n    " + "\n    ".join(problems), exchange)


def response(operation_id: str, status: int, profile: str) -> jsonschema.protocols.Validator:
    return specs.response_validator(operation_id, status, profile=profile)


def chunk(operation_id: str, profile: str) -> jsonschema.protocols.Validator:
    return specs.stream_event_validator(operation_id, profile=profile)


def chunks_by_type(operation_id: str, profile: str) -> dict[str, Any]:
    """One validator per event `type` for streams keyed by type (empty for chat streams)."""
    return specs.stream_event_validators(operation_id, profile=profile)


def error_envelope(profile: str) -> jsonschema.protocols.Validator:
    return specs.error_validator(profile=profile)
