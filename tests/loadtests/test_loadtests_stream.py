"""Token timing semantics of StreamMeter."""

from __future__ import annotations

import json

import pytest

from loadtests._stream_meter import StreamMeter


def chat(content: str | None = None, finish: str | None = None, role: bool = False) -> str:
    delta = {"role": "assistant", "content": ""} if role else {"content": content}
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def feed(events: list[tuple[float, str]], start: float = 0.0) -> StreamMeter:
    meter = StreamMeter(start)
    for at, data in events:
        meter.on_data(data, at)
    return meter


def test_ttft_itl_tpot_e2e_with_usage() -> None:
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}})
    r = feed(
        [
            (0.05, chat(role=True)),  # role chunk: not a token
            (0.10, chat("")),  # empty delta: not a token
            (0.20, chat("a")),
            (0.23, chat("b")),
            (0.27, chat("c")),
            (0.28, chat(None, "stop")),
            (0.29, usage),
            (0.30, "[DONE]"),
        ]
    ).result
    assert r.failure() is None
    assert r.ttft_s == pytest.approx(0.20)
    assert r.itl_s == pytest.approx([0.03, 0.04])
    assert r.e2e_s == pytest.approx(0.30)
    assert r.output_tokens == 3 and r.tokens_from_usage
    assert r.usage_prompt_tokens == 4
    assert r.tpot_s == pytest.approx((0.30 - 0.20) / 2)


def test_fallback_token_count_is_content_events() -> None:
    r = feed([(0.1, chat("a")), (0.2, chat("bc", "length")), (0.3, "[DONE]")]).result
    assert r.output_tokens == 2 and not r.tokens_from_usage


def test_completions_text_counts() -> None:
    text = json.dumps({"choices": [{"index": 0, "text": "x", "finish_reason": "length"}]})
    r = feed([(0.1, text), (0.2, "[DONE]")]).result
    assert r.ttft_s == pytest.approx(0.1) and r.failure() is None


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([(0.1, chat("a", "stop"))], "without [DONE]"),
        ([(0.1, chat("a")), (0.2, "[DONE]")], "without a finish_reason"),
        ([(0.1, '{"error": {"message": "boom"}}')], "boom"),
        ([(0.1, "not json")], "not JSON"),
    ],
)
def test_failures(events: list[tuple[float, str]], reason: str) -> None:
    failure = feed(events).result.failure()
    assert failure is not None and reason in failure


def delta(**fields: object) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": fields, "finish_reason": None}]})


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_then_answer_are_timed_apart(key: str) -> None:
    r = feed(
        [
            (0.05, chat(role=True)),
            (0.10, delta(**{key: "think"})),
            (0.12, delta(**{key: " more"})),
            (0.30, delta(content="answer")),
            (0.31, chat(None, "stop")),
            (0.32, "[DONE]"),
        ]
    ).result
    assert r.failure() is None
    assert r.ttft_s == pytest.approx(0.10)  # TTFT: the first token of any kind
    assert r.reasoning_ttft_s == pytest.approx(0.10)
    assert r.answer_ttft_s == pytest.approx(0.30)
    assert r.itl_s == pytest.approx([0.02, 0.18])  # reasoning tokens are tokens


def test_tool_call_arguments_are_the_answer_and_plain_streams_have_no_reasoning() -> None:
    call = {"index": 0, "function": {"arguments": "{}"}}
    r = feed([(0.2, delta(tool_calls=[call])), (0.3, chat(None, "tool_calls")), (0.4, "[DONE]")])
    assert r.result.answer_ttft_s == pytest.approx(0.2)
    assert r.result.reasoning_ttft_s is None


def test_cached_tokens_and_kept_answer() -> None:
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 6},
    }
    meter = StreamMeter(0.0, keep_answer=True)
    for at, data in [
        (0.1, delta(reasoning_content="hidden")),
        (0.2, chat("Hel")),
        (0.3, chat("lo", "stop")),
        (0.4, json.dumps({"choices": [], "usage": usage})),
        (0.5, "[DONE]"),
    ]:
        meter.on_data(data, at)
    assert meter.result.usage_cached_tokens == 6
    assert meter.result.answer_text == "Hello"  # what the conversation sends back: no reasoning
    plain = feed([(0.1, json.dumps({"choices": [], "usage": {"prompt_tokens": 3}}))]).result
    assert plain.usage_cached_tokens is None and plain.answer_text == ""
