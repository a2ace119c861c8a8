"""Turns of the Responses API's WebSocket mode, checked as the suite checks a stream.

A turn that must be answered is held to what a stream is held to (every event against the spec,
OpenAI's order, the profile's item states) and must end within the bounds; a turn that must not
start is one `error` event of the mode's own shape (or a `response.failed` naming the error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import specs
from compliance import _responses as r
from compliance import _schema
from compliance import _shared_rules as R
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._responses_rules import WS_TURN
from compliance._ws import Connection, WsExchange, turn_type
from compliance.rules import Rule

ERROR_EVENT = "ResponseWebSocketErrorEvent"


@dataclass
class Refusal:
    failed: bool  # an error event or a response.failed came back, not an answer
    code: str | None  # the error code it named
    exchange: WsExchange


def connect(client: ApiClient, caps: Capabilities) -> Connection:
    """An open connection (the test is skipped where the server offers no WebSocket mode)."""
    caps.need("responses_websocket")
    connection = Connection(client)
    offered = connection.open()
    ensure(
        offered.present and offered.exchange.error is None,
        WS_TURN,
        f"the WebSocket handshake failed: {offered.exchange.error or offered.reason}",
        offered.exchange,
        cause=f"{WS_TURN}: handshake",
    )
    return connection


def answered(
    connection: Connection, body: dict[str, Any], profile: str, rule: Rule = WS_TURN
) -> tuple[list[dict[str, Any]], dict[str, Any], WsExchange]:
    """A turn that must be answered: (its events, the final response, the exchange)."""
    exchange = connection.turn(body, _max_events(body))
    _framing(exchange, rule)
    if len(exchange.events) == 1 and turn_type(exchange.events[0].data) == "error":
        fail(
            rule,
            f"the turn was refused: {exchange.events[0].data[:400]}",
            exchange,
            cause=f"{rule}: refused",
        )
    events = r.checked_events([(e.data, None) for e in exchange.events], exchange, profile)
    return events, r.check_order(events, exchange, profile), exchange


def refused(connection: Connection, body: dict[str, Any], profile: str, rule: Rule) -> Refusal:
    """A turn that must fail: whether it did, and with which code. An error event must have the
    mode's shape (`ResponseWebSocketErrorEvent`); an answer is the caller's to judge."""
    exchange = connection.turn(body, _max_events(body))
    _framing(exchange, rule)
    last = _json(exchange.events[-1].data)
    if last.get("type") == "error":
        _schema.check(
            specs.component_validator(ERROR_EVENT, profile),
            last,
            R.CHUNK_SCHEMA,
            exchange,
            "the error event",
            scope=ERROR_EVENT,
            profile=profile,
        )
        return Refusal(True, _code(last.get("error")), exchange)
    if last.get("type") == "response.failed":
        return Refusal(True, _code((last.get("response") or {}).get("error")), exchange)
    return Refusal(False, None, exchange)


def _framing(exchange: WsExchange, rule: Rule) -> None:
    sse = exchange.sse
    assert sse is not None
    if sse.stopped == "deadline":
        fail(rule, f"the turn did not end within {sse.elapsed:.1f} s", exchange, f"{rule}: no end")
    if sse.stopped == "max_events":
        fail(
            rule,
            f"the turn did not end after {len(sse.events)} messages",
            exchange,
            f"{rule}: endless",
        )
    if sse.stopped:
        fail(
            rule,
            f"the connection broke during the turn ({sse.stopped})",
            exchange,
            f"{rule}: broke",
        )
    ensure(sse.events, rule, "no message came back", exchange)


def _max_events(body: dict[str, Any]) -> int:
    return r.EVENTS_PER_TOKEN * int(body.get("max_output_tokens") or 16) + r.EVENTS_SLACK


def _json(data: str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def _code(error: Any) -> str | None:
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
