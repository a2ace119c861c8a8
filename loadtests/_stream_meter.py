"""Token timing of one OpenAI-style streamed response, from parsed SSE events.

Definitions (the same as vLLM's benchmark, GuideLLM and AIPerf):
- TTFT: request start to the first event carrying non-empty generated text of any kind (answer,
  reasoning or tool-call arguments). A role-only chunk or an empty delta is not a token, so it
  does not stop the TTFT clock.
- Reasoning models: when deltas carry ``reasoning_content`` (or ``reasoning``), the time to the
  first reasoning token and the time to the first answer token (content or tool-call arguments)
  are kept apart as well; TTFT stays the first of either.
- ITL: the gaps between consecutive content events after the first one (TTFT excluded).
- E2E: request start to the ``[DONE]`` sentinel.
- TPOT: (E2E - TTFT) / (output tokens - 1), the mean decode time per token after the first.
- Output tokens: ``usage.completion_tokens`` of the final usage chunk when the server sends one
  (we ask for it with ``stream_options.include_usage``), else the number of content events.
- Cached prompt tokens: ``usage.prompt_tokens_details.cached_tokens`` when the server reports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"
MAX_KEPT_CHARS = 64 * 1024  # answer text kept for a conversation's history, at most


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
    usage_cached_tokens: int | None = None
    first_reasoning_at: float | None = None
    first_answer_at: float | None = None
    answer: list[str] | None = None  # the answer's text, when the meter was asked to keep it
    answer_chars: int = 0
    error: str | None = None
    end_marker: str = DONE  # what ends a complete stream, named in the failure message

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_content_at is None else self.first_content_at - self.start

    @property
    def reasoning_ttft_s(self) -> float | None:
        return None if self.first_reasoning_at is None else self.first_reasoning_at - self.start

    @property
    def answer_ttft_s(self) -> float | None:
        return None if self.first_answer_at is None else self.first_answer_at - self.start

    @property
    def answer_text(self) -> str:
        return "".join(self.answer or ())

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


def _texts(*parts: object) -> str:
    return "".join(p for p in parts if isinstance(p, str))


def _delta_text(choice: dict[str, Any]) -> tuple[str, str, str]:
    """(reasoning, answer content, tool-call arguments) of one streamed choice."""
    delta = choice.get("delta")
    if isinstance(delta, dict):
        reasoning = _texts(delta.get("reasoning_content"), delta.get("reasoning"))
        calls = [
            (call.get("function") or {}).get("arguments")
            for call in delta.get("tool_calls") or ()
            if isinstance(call, dict)
        ]
        return reasoning, _texts(delta.get("content")), _texts(*calls)
    return "", _texts(choice.get("text")), ""


class StreamMeter:
    """Consumes the ``data`` of each SSE event with its arrival time and builds a StreamResult."""

    def __init__(self, start: float, *, keep_answer: bool = False) -> None:
        self.result = StreamResult(start=start, answer=[] if keep_answer else None)

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
            cached = cached_tokens(usage)
            if cached is not None:
                r.usage_cached_tokens = cached
        reasoning = answer = calls = ""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            parts = _delta_text(choice)
            reasoning, answer, calls = reasoning + parts[0], answer + parts[1], calls + parts[2]
            if choice.get("finish_reason"):
                r.finish_reason = choice["finish_reason"]
        if reasoning and r.first_reasoning_at is None:
            r.first_reasoning_at = now
        if answer and r.answer is not None and r.answer_chars < MAX_KEPT_CHARS:
            kept = answer[: MAX_KEPT_CHARS - r.answer_chars]
            r.answer.append(kept)
            r.answer_chars += len(kept)
        if reasoning or answer or calls:
            self.on_content(now, answer=bool(answer or calls))

    def on_content(self, now: float, *, answer: bool = True) -> None:
        """An event carrying generated text arrived: the first one stops the TTFT clock.

        `answer`: the text is (part of) the answer or a tool call, not reasoning.
        """
        r = self.result
        if answer and r.first_answer_at is None:
            r.first_answer_at = now
        if r.first_content_at is None:
            r.first_content_at = now
        else:
            r.itl_s.append(now - r.last_content_at)  # type: ignore[operator]
        r.last_content_at = now
        r.content_events += 1


def cached_tokens(usage: dict[str, Any]) -> int | None:
    """``usage.prompt_tokens_details.cached_tokens``, or None when the server does not say."""
    details = usage.get("prompt_tokens_details")
    value = details.get("cached_tokens") if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
