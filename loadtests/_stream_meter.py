"""Token timing of one OpenAI-style streamed response, from parsed SSE events.

Definitions (the same as vLLM's benchmark, GuideLLM and AIPerf):
- TTFT: request start to the first event carrying non-empty generated text. A role-only chunk or
  an empty delta is not a token, so it does not stop the TTFT clock.
- ITL: the gaps between consecutive content events after the first one (TTFT excluded).
- E2E: request start to the ``[DONE]`` sentinel.
- TPOT: (E2E - TTFT) / (output tokens - 1), the mean decode time per token after the first.
- Output tokens: ``usage.completion_tokens`` of the final usage chunk when the server sends one
  (we ask for it with ``stream_options.include_usage``), else the number of content events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


@dataclass(slots=True)
class StreamResult:
    start: float
    first_content_at: float | None = None
    last_content_at: float | None = None
    done_at: float | None = None
    end_at: float | None = None
    itl_s: list[float] = field(default_factory=list)
    content_events: int = 0
    finish_reason: str | None = None
    usage_completion_tokens: int | None = None
    usage_prompt_tokens: int | None = None
    error: str | None = None
    end_marker: str = DONE  # what ends a complete stream, named in the failure message

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_content_at is None else self.first_content_at - self.start

    @property
    def e2e_s(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.start

    @property
    def output_tokens(self) -> int:
        if self.usage_completion_tokens is not None:
            return self.usage_completion_tokens
        return self.content_events

    @property
    def tokens_from_usage(self) -> bool:
        return self.usage_completion_tokens is not None

    @property
    def tpot_s(self) -> float | None:
        ttft, e2e, tokens = self.ttft_s, self.e2e_s, self.output_tokens
        if ttft is None or e2e is None or tokens < 2:
            return None
        return (e2e - ttft) / (tokens - 1)

    def failure(self) -> str | None:
        """Why this stream does not count as a success, or None."""
        if self.error:
            return self.error
        if self.done_at is None:
            return f"stream ended without {self.end_marker}"
        if self.finish_reason is None:
            return "stream ended without a finish_reason"
        return None


def _delta_text(choice: dict[str, Any]) -> str:
    """Generated text of one streamed choice: chat delta (content, reasoning) or text."""
    delta = choice.get("delta")
    if isinstance(delta, dict):
        parts = [delta.get("content"), delta.get("reasoning_content"), delta.get("reasoning")]
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                parts.append((call.get("function") or {}).get("arguments"))
        return "".join(p for p in parts if isinstance(p, str))
    text = choice.get("text")
    return text if isinstance(text, str) else ""


class StreamMeter:
    """Consumes the ``data`` of each SSE event with its arrival time and builds a StreamResult."""

    def __init__(self, start: float) -> None:
        self.result = StreamResult(start=start)

    @property
    def finished(self) -> bool:
        r = self.result
        return r.done_at is not None or r.error is not None

    def on_data(self, data: str, now: float) -> None:
        r = self.result
        if r.done_at is not None:
            return  # anything after [DONE] is ignored, as clients do
        if data.strip() == DONE:
            r.done_at = now
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            r.error = f"SSE data is not JSON: {data[:80]!r}"
            return
        if not isinstance(chunk, dict):
            r.error = "SSE data is not a JSON object"
            return
        if chunk.get("error"):
            err = chunk["error"]
            message = err.get("message") if isinstance(err, dict) else err
            r.error = f"error event in stream: {str(message)[:120]}"
            return
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            if isinstance(usage.get("completion_tokens"), int):
                r.usage_completion_tokens = usage["completion_tokens"]
            if isinstance(usage.get("prompt_tokens"), int):
                r.usage_prompt_tokens = usage["prompt_tokens"]
        text = ""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            text += _delta_text(choice)
            if choice.get("finish_reason"):
                r.finish_reason = choice["finish_reason"]
        if text:
            self.on_content(now)

    def on_content(self, now: float) -> None:
        """An event carrying generated text arrived: the first one stops the TTFT clock."""
        r = self.result
        if r.first_content_at is None:
            r.first_content_at = now
        else:
            r.itl_s.append(now - r.last_content_at)  # type: ignore[operator]
        r.last_content_at = now
        r.content_events += 1
