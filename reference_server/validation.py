"""Reading a request body and checking it against the spec; every failure is a 4xx envelope."""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

import specs

from .errors import ApiError, invalid_request


def parse_json_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError that says what is wrong with it."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise ApiError(
                415,
                f"Unsupported Content-Type '{media}': send the body as application/json.",
                code="unsupported_media_type",
            )
    if not body or not body.strip():
        raise invalid_request("The request body is empty; expected a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_request(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    return parse_json_text(text)


def parse_json_text(text: str) -> dict[str, Any]:
    """A JSON object from text, or a 400 that says why not."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise invalid_request("The JSON body is nested too deeply.") from None
    except ValueError as exc:
        raise invalid_request(
            f"We could not parse the JSON body of your request: {exc}.", code="invalid_json"
        ) from None
    if not isinstance(value, dict):
        raise invalid_request(
            f"The request body must be a JSON object, not {type(value).__name__}."
        )
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def validate_request(
    operation_id: str, body: dict[str, Any], profile: str = "strict"
) -> dict[str, Any]:
    """The body with integral numbers as ints, or a 400 naming the field that breaks the spec."""
    validator = specs.request_validator(operation_id, profile)
    try:
        error = best_match(validator.iter_errors(body))
    except RecursionError:
        raise invalid_request("The JSON body is nested too deeply.") from None
    if error is not None:
        raise invalid_request(_describe(error), _param(error))
    return _integral_floats_as_ints(body)


def check_stream_options(body: dict[str, Any]) -> None:
    """`stream_options` only with `stream: true`: OpenAI refuses it otherwise, naming the field.

    Over WebSocket every request streams, so only the HTTP routes apply this rule.
    """
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise invalid_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )


def _integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema counts 7.0 as an integer, so `"n": 7.0` is valid; make it the int it is.

    Floats that are whole numbers become ints everywhere, which float fields (temperature,
    top_p, ...) do not mind: they are read with float().
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


def _param(error: ValidationError) -> str | None:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            path.append(missing[0])
    if not path:
        return None
    text = str(path[0])
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _describe(error: ValidationError) -> str:
    where = _param(error)
    detail = error.message
    if len(detail) > 300:
        detail = detail[:300] + "…"
    return f"Invalid value for '{where}': {detail}" if where else f"Invalid request: {detail}"
