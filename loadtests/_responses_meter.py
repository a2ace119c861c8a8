"""Token timing of one streamed Responses API response, from parsed SSE events.

A Responses stream has no `[DONE]` and no `choices`: text arrives in `response.output_text.delta`
events (argument fragments of a function call in `response.function_call_arguments.delta`), and
the stream ends with `response.completed`, `response.incomplete` or `response.failed`, whose
response carries the usage. TTFT is the first non-empty delta event, ITL the gaps between them,
E2E the terminal event; the definitions are otherwise those of ``_stream_meter``.
"""

from __future__ import annotations

import json
from typing import Any

from ._stream_meter import DONE, StreamMeter

TEXT_EVENTS = ("response.output_text.delta", "response.function_call_arguments.delta")
TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


class ResponsesStreamMeter(StreamMeter):
    """TTFT at the first non-empty delta event, ITL between them, E2E at the terminal event."""

    def __init__(self, start: float, *, keep_answer: bool = False) -> None:
        super().__init__(start, keep_answer=keep_answer)
        self.result.end_marker = "a terminal event (response.completed/incomplete/failed)"

    def on_data(self, data: str, now: float) -> None:
        r = self.result
        if r.done_at is not None or data.strip() == DONE:
            return  # a [DONE] after the terminal event is tolerated, as OpenAI's SDK does
        try:
            event = json.loads(data)
        except ValueError:
            r.error = f"SSE data is not JSON: {data[:80]!r}"
            return
        if not isinstance(event, dict):
            r.error = "SSE data is not a JSON object"
            return
        kind = event.get("type")
        if kind == "error" or ("error" in event and kind is None):
            detail = event.get("message") or event.get("error")
            r.error = f"error event in stream: {str(detail)[:120]}"
        elif kind in TEXT_EVENTS:
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self.on_content(now)
        elif kind in TERMINAL_EVENTS:
            self._end(event.get("response") or {}, now)

    def _end(self, response: dict[str, Any], now: float) -> None:
        r = self.result
        r.done_at = now
        r.finish_reason = str(response.get("status") or "completed")
        if r.finish_reason == "failed":
            r.error = f"response failed: {str(response.get('error'))[:120]}"
        usage = response.get("usage")
        if isinstance(usage, dict):
            if isinstance(usage.get("output_tokens"), int):
                r.usage_completion_tokens = usage["output_tokens"]
            if isinstance(usage.get("input_tokens"), int):
                r.usage_prompt_tokens = usage["input_tokens"]
            details = usage.get("input_tokens_details")
            cached = details.get("cached_tokens") if isinstance(details, dict) else None
            if isinstance(cached, int) and not isinstance(cached, bool):
                r.usage_cached_tokens = cached
