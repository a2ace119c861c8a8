"""Streamed Responses API (`POST /v1/responses`): TTFT and ITL from the text delta events
(`_responses_meter`). Requests ask for `store: false`, so a load run fills no server-side store.
"""

from __future__ import annotations

from typing import Any

from locust import task

from ._responses_meter import ResponsesStreamMeter
from ._settings import SETTINGS
from ._stream_meter import StreamMeter
from ._user import LLMUser

MIN_OUTPUT_TOKENS = 16  # OpenAI rejects a smaller max_output_tokens


class StreamingResponsesUser(LLMUser):
    """Streamed /v1/responses with TTFT, ITL, TPOT and E2E."""

    @task
    def responses_stream(self) -> None:
        self.stream("/v1/responses", "responses", "responses.stream")

    def stream_meter(self, start: float, *, keep_answer: bool = False) -> StreamMeter:
        return ResponsesStreamMeter(start, keep_answer=keep_answer)

    def _body(self, prompt_kind: str, stream: bool) -> dict[str, Any]:
        prompt = SETTINGS.pick_prompt(self.rng)
        limit = max(MIN_OUTPUT_TOKENS, prompt.max_tokens or SETTINGS.max_tokens)
        body: dict[str, Any] = {
            "model": self.model,
            "input": [dict(m) for m in prompt.messages],
            "max_output_tokens": limit,
            "temperature": SETTINGS.temperature,
            "stream": stream,
            "store": False,
        }
        return {**body, **SETTINGS.extra_body}
