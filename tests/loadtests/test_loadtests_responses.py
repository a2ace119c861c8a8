"""Token timing of streamed Responses: TTFT and ITL from the delta events, E2E at the end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadtests._responses_meter import ResponsesStreamMeter


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "sequence_number": 0, **fields})


def done(status: str = "completed", **response: Any) -> str:
    usage = {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    kind = {"completed": "response.completed", "failed": "response.failed"}.get(
        status, "response.incomplete"
    )
    return event(kind, response={"status": status, "usage": usage, **response})


def feed(events: list[tuple[float, str]]) -> ResponsesStreamMeter:
    meter = ResponsesStreamMeter(0.0)
    for at, data in events:
        meter.on_data(data, at)
    return meter


def test_ttft_and_itl_come_from_the_delta_events() -> None:
    r = feed(
        [
            (0.01, event("response.created", response={"status": "in_progress"})),
            (0.02, event("response.in_progress", response={"status": "in_progress"})),
            (0.03, event("response.output_item.added", output_index=0, item={})),
            (0.04, event("response.content_part.added", output_index=0, part={})),
            (0.05, event("response.output_text.delta", delta="")),  # empty: not a token
            (0.20, event("response.output_text.delta", delta="a")),
            (0.23, event("response.output_text.delta", delta="b")),
            (0.27, event("response.output_text.delta", delta="c")),
            (0.28, event("response.output_text.done", text="abc")),
            (0.30, done()),
            (0.31, "[DONE]"),  # tolerated after the end
        ]
    ).result
    assert r.failure() is None
    assert r.ttft_s == pytest.approx(0.20)
    assert r.itl_s == pytest.approx([0.03, 0.04])
    assert r.e2e_s == pytest.approx(0.30)
    assert r.output_tokens == 3 and r.tokens_from_usage and r.usage_prompt_tokens == 5
    assert r.finish_reason == "completed"


def test_function_call_arguments_count_as_generated_text() -> None:
    r = feed(
        [
            (0.1, event("response.function_call_arguments.delta", delta='{"a"')),
            (0.2, event("response.function_call_arguments.delta", delta=": 1}")),
            (0.3, done("incomplete")),
        ]
    ).result
    assert r.ttft_s == pytest.approx(0.1) and r.itl_s == pytest.approx([0.1])
    assert r.failure() is None and r.finish_reason == "incomplete"


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([(0.1, event("response.output_text.delta", delta="a"))], "without a terminal event"),
        ([(0.1, done("failed", error={"message": "boom"}))], "boom"),
        ([(0.1, event("error", message="overloaded", code=None, param=None))], "overloaded"),
        ([(0.1, '{"error": {"message": "bad"}}')], "bad"),
        ([(0.1, "not json")], "not JSON"),
    ],
)
def test_failures(events: list[tuple[float, str]], reason: str) -> None:
    failure = feed(events).result.failure()
    assert failure is not None and reason in failure
