"""WebSocket streaming: GET /v1/chat/completions/ws and GET /v1/completions/ws.

The client sends one JSON request message; the server answers with the same chunk objects the
SSE stream carries, one text message each, then "[DONE]". Errors come as the OpenAI envelope
and close the socket. Closing the socket cancels the generation.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any

from sanic import Request

from .. import accounting
from ..errors import ApiError, invalid_request
from ..sinks import WebSocketSink
from ..validation import parse_json_text, validate_request
from .chat import prepare_chat, stream_chat
from .completions import prepare_completion, stream_completion

FIRST_MESSAGE_TIMEOUT = 30.0
_POLICY_VIOLATION, _SERVER_ERROR = 1008, 1011


async def chat_ws(request: Request, ws: Any) -> None:
    await _serve(request, ws, "createChatCompletion", prepare_chat, stream_chat)


async def completions_ws(request: Request, ws: Any) -> None:
    await _serve(request, ws, "createCompletion", prepare_completion, stream_completion)


async def _serve(request: Request, ws: Any, operation_id: str, prepare: Any, stream: Any) -> None:
    from ..app import to_api_error

    # A socket closed before a stream or an error was sent is a client that went away; a stream
    # records its own outcome (`run_stream`), so the default below only counts the others.
    outcome = accounting.CANCELLED
    try:
        message = await asyncio.wait_for(ws.recv(), FIRST_MESSAGE_TIMEOUT)
        if message is None:
            return
        body = read_message(message)
        body = validate_request(operation_id, body, request.app.ctx.config.validation_profile)
        prepared = prepare(request, body)
        sink = WebSocketSink(ws, request.app.ctx.config.stream_stall_timeout)

        async def open_sink() -> WebSocketSink:
            return sink

        await stream(request, prepared, open_sink)
    except TimeoutError:
        outcome = await _fail(ws, invalid_request("no request message arrived in time"))
    except UnicodeDecodeError:
        outcome = await _fail(ws, invalid_request("the request message is not valid UTF-8"))
    except ApiError as exc:
        outcome = await _fail(ws, exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the envelope, never a dropped socket without a reason
        outcome = await _fail(ws, to_api_error(exc))
    finally:
        accounting.finish(request, outcome)


def read_message(message: str | bytes | bytearray) -> Any:
    """A request message (text, or UTF-8 bytes) as JSON; UnicodeDecodeError or a 400."""
    if isinstance(message, bytes | bytearray):
        message = bytes(message).decode("utf-8", errors="strict")
    return parse_json_text(message)


async def _fail(ws: Any, error: ApiError) -> str:
    """Sends the error and closes the socket; returns the request's outcome."""
    try:
        await ws.send(jsonlib.dumps(error.envelope()))
        code = _SERVER_ERROR if error.status >= 500 else _POLICY_VIOLATION
        await ws.close(code=code, reason=error.error_type)
    except Exception:  # the client is already gone: nothing left to tell it
        return accounting.CANCELLED
    return accounting.outcome_of(error.status)
