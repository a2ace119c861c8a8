"""Continuous batching against real server processes: concurrent requests decode together and,
with `--batch-invariant`, still give the text each gives alone; a cancelled sequence leaves its
neighbours untouched; `n` choices decode their prompt once; cached prefixes show in
`cached_tokens`; a prompt another stream is decoding starts from its cells; a sequence that
runs out of context, a failing sequence and a KV cache that refuses big steps stay local.
Assertions use counters (/metrics, the scripted token log) and event order, not timings."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferno.launcher import reference_server_process
from inferno.sse import parse as parse_sse
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    MODEL,
    TIMEOUT,
    client,
    json_body,
    metric,
    scrape,
    tokenize,
    wait_idle,
)
from tests.reference_server._faulty_server import (
    FAIL_LATER,
    SseItem,
    content_of,
    faulty_server,
    iter_sse,
    model_health,
)
from tests.reference_server._faulty_server import scrape as scrape_url

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out: concurrent real-server runs

PARALLEL = 8
STEPS = "inferno_decode_steps_total"
EVALUATED = "inferno_prompt_tokens_evaluated_total"
REUSED = "inferno_prompt_tokens_reused_total"
BUSY = f'inferno_sequences{{model="{MODEL}",state="busy"}}'
# Flash attention (the default) sums by the step's shape: the text alone is the same text
# beside others only with plain attention, the promise `--batch-invariant` makes.
INVARIANT = ["--parallel", str(PARALLEL), "--batch-invariant"]
PROMPTS = [
    "Tell me about the sea",
    "Write a haiku",
    "What is a lighthouse?",
    "List three colours",
    "Describe a cat",
    "Once upon a time",
    "How do trains work?",
    "Say something nice",
]


@pytest.fixture(scope="module")
def batched() -> Iterator[httpx.Client]:
    """The product server with 8 sequences, one thread."""
    args = ["--model", "tiny", "--threads", "1", "--parallel", str(PARALLEL)]
    with reference_server_process(args) as server, client(server.base_url) as http:
        yield http


def _chat(http: httpx.Client, prompt: str, max_tokens: int, **extra: Any) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
        **extra,
    }
    return json_body(http.post(CHAT, json=body), "createChatCompletion")


def _complete(http: httpx.Client, prompt: str, max_tokens: int, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": prompt, "temperature": 0, "max_tokens": max_tokens, **extra}
    return json_body(http.post(COMPLETIONS, json=body), "createCompletion")


def _concurrently(count: int, work: Any) -> list[Any]:
    """Runs work(i) for every i at once (released together by a barrier)."""
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


# -- n > 1 shares the prompt -----------------------------------------------------------------------


def test_n_choices_decode_the_prompt_once(batched: httpx.Client) -> None:
    wait_idle(batched)
    before = scrape(batched)
    prompt = "A prompt no earlier request has used: seventeen purple elephants"
    body = _complete(batched, prompt, 8, n=3, temperature=1.0, seed=21)
    after = scrape(batched)
    usage = body["usage"]
    assert len(body["choices"]) == 3
    assert usage["prompt_tokens"] == len(tokenize(prompt))
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    evaluated = metric(after, EVALUATED, model=MODEL) - metric(before, EVALUATED, model=MODEL)
    reused = metric(after, REUSED, model=MODEL) - metric(before, REUSED, model=MODEL)
    # Three choices, one prompt evaluation: every prompt token decoded once or found cached.
    assert evaluated == usage["prompt_tokens"] - cached, (evaluated, usage)
    assert reused == cached
    assert usage["completion_tokens"] == 3 * 8


# -- prefix reuse ----------------------------------------------------------------------------------

SYSTEM = (
    "You are the keeper of an old lighthouse on a rocky coast. You answer every question "
    "about ships, weather and the sea in a calm voice, in two sentences at most."
)


def test_a_shared_prefix_shows_in_cached_tokens(batched: httpx.Client) -> None:
    first_prompt = SYSTEM + " Question: what is fog?"
    second_prompt = SYSTEM + " Question: what is a gale?"
    first = _complete(batched, first_prompt, 4)
    second = _complete(batched, second_prompt, 4)
    a, b = tokenize(first_prompt), tokenize(second_prompt)
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    assert common > 20, "the two prompts should share a long prefix"
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] < common
    assert second["usage"]["prompt_tokens_details"] == {"cached_tokens": common}
    # The same prompt again gives the same text: it is found whole in the cache and starts
    # from the logits kept for its last token.
    again = _complete(batched, second_prompt, 4)
    assert again["usage"]["prompt_tokens_details"]["cached_tokens"] == len(b)
    assert again["choices"][0]["text"] == second["choices"][0]["text"]


def test_cached_tokens_in_a_chat_stream_usage_chunk(batched: httpx.Client) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}]
    body = {"model": MODEL, "messages": messages, "temperature": 0, "max_tokens": 3}
    whole = json_body(batched.post(CHAT, json=body), "createChatCompletion")
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    response = batched.post(CHAT, json=streamed)
    assert response.status_code == 200
    chunks = [json.loads(e.data) for e in parse_sse(response.content) if e.data != "[DONE]"]
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == whole["usage"]["prompt_tokens"]
    # The streamed repeat found the whole prompt cached; so does the next, not streamed.
    assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_tokens"]}
    again = json_body(batched.post(CHAT, json=body), "createChatCompletion")
    assert again["usage"]["prompt_tokens_details"] == usage["prompt_tokens_details"]


# -- cancellation, failures and context limits stay with their sequence ----------------------------


class ScriptedServer:
    def __init__(self, server: Any, token_log: Path) -> None:
        self.base_url: str = server.base_url
        self.token_log = token_log

    def tokens_after_cancel(self) -> int:
        return self.token_log.read_bytes().count(b"x") if self.token_log.exists() else 0


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedServer]:
    """8 sequences; a prompt with PACE costs 10 ms per token (so a batch that holds it takes
    that long per step); lengths are exact; FAIL_LATER prompts fail after 3 tokens."""
    with tempfile.TemporaryDirectory(prefix="inferno-batching-") as tmp:
        token_log = Path(tmp) / "tokens"
        faults: dict[str, object] = {"token_delay": 0.01, "token_marker": "PACE", "no_eos": 1}
        faults |= {"inference_error": 1, "token_log": token_log}
        with faulty_server(INVARIANT, **faults) as server:
            yield ScriptedServer(server, token_log)


def _stream_text(base_url: str, prompt: str, max_tokens: int, seen: Any = None) -> str:
    """The streamed text of a chat request; `seen(items)` after each event may stop early."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
    }
    items: list[SseItem] = []
    with httpx.stream("POST", base_url + CHAT, json=body, timeout=TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        for item in iter_sse(response.iter_lines()):
            items.append(item)
            if seen is not None and seen(items):
                break
    return content_of(items)


def test_eight_concurrent_requests_give_the_text_each_gives_alone(
    scripted: ScriptedServer,
) -> None:
    """Greedy text of 8 prompts, one at a time and all at once. The PACE prompt makes every
    step it is in last 10 ms, so the 8 requests certainly overlap however slow the machine."""
    prompts = [f"PACE {PROMPTS[0]}", *PROMPTS[1:]]
    with httpx.Client(base_url=scripted.base_url, timeout=TIMEOUT) as http:
        alone = [_chat(http, p, 48)["choices"][0]["message"]["content"] for p in prompts]
        wait_idle(http)
        before = scrape(http)
        replies = _concurrently(len(prompts), lambda i: _chat(http, prompts[i], 48))
        after = scrape(http)
    assert [r["choices"][0]["message"]["content"] for r in replies] == alone
    tokens = sum(r["usage"]["completion_tokens"] for r in replies)
    assert tokens == 8 * 48
    steps = metric(after, STEPS, model=MODEL) - metric(before, STEPS, model=MODEL)
    # Decoded together: far fewer steps than tokens (alone, each token costs a step).
    assert steps < tokens / 2, (steps, tokens)


def test_cancelling_one_of_eight_streams_leaves_the_others_unchanged(
    scripted: ScriptedServer,
) -> None:
    base = scripted.base_url
    prompts = [f"PACE {PROMPTS[0]}", *PROMPTS[1:]]
    paced_tokens = 600  # with its prompt, within the tiny model's 1024-token context
    alone = [_stream_text(base, p, paced_tokens) for p in prompts]
    victim = 3
    all_started = threading.Barrier(len(prompts))
    closed = threading.Event()
    late_before = scripted.tokens_after_cancel()

    def started(items: list[SseItem]) -> bool:
        if len([i for i in items if content_of([i])]) == 1:
            all_started.wait(timeout=30)  # every stream is decoding
        return False

    def reader(i: int) -> str:
        if i != victim:
            return _stream_text(base, prompts[i], paced_tokens, seen=started)

        def first_text(items: list[SseItem]) -> bool:
            if content_of(items):
                all_started.wait(timeout=30)
                return True
            return False

        text = _stream_text(base, prompts[i], paced_tokens, seen=first_text)
        closed.set()
        return text

    with ThreadPoolExecutor(len(prompts)) as pool:
        futures = [pool.submit(reader, i) for i in range(len(prompts))]
        assert closed.wait(timeout=30)
        # The victim's sequence is freed while the seven others are still decoding (paced_tokens
        # paced steps: 6 s at least, so a loaded machine that is slow to notice the closed
        # connection still sees the others running).
        with httpx.Client(timeout=5.0) as http:
            deadline = time.monotonic() + 10.0
            while (busy := scrape_url(base, http)[BUSY]) > 7:
                assert time.monotonic() < deadline, "the cancelled sequence was never freed"
                time.sleep(0.01)
            assert busy == 7
            assert model_health(base, http)["running"] == 7
        assert not any(f.done() for i, f in enumerate(futures) if i != victim)
        texts = [f.result(timeout=60) for f in futures]
    for i, text in enumerate(texts):
        if i != victim:
            assert text == alone[i], f"stream {i} changed"
    assert alone[victim].startswith(texts[victim])
    # Once the cancel reached the engine, at most the step in flight sampled for it.
    assert scripted.tokens_after_cancel() - late_before <= 1


def test_a_prompt_another_stream_is_decoding_starts_from_its_cells(
    scripted: ScriptedServer,
) -> None:
    """The same prompt from a second client while the first streams: it reports the whole
    prompt cached (it shares the first one's cells) and gives the text the stream begins with."""
    base = scripted.base_url
    prompt = f"PACE {PROMPTS[6]}"
    decoding = threading.Event()

    def first_text(items: list[SseItem]) -> bool:
        if content_of(items):
            decoding.set()
        return False

    with ThreadPoolExecutor(1) as pool:
        stream = pool.submit(_stream_text, base, prompt, 300, first_text)
        assert decoding.wait(timeout=30)
        with client(base) as http:
            again = _chat(http, prompt, 4)
        assert not stream.done(), "the stream ended before the second request was answered"
        streamed = stream.result(timeout=60)
    usage = again["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_tokens"]}
    assert streamed.startswith(again["choices"][0]["message"]["content"])


def test_a_failing_sequence_fails_only_its_request(scripted: ScriptedServer) -> None:
    base = scripted.base_url

    def run(i: int) -> httpx.Response:
        prompt = f"please {FAIL_LATER}" if i == 0 else PROMPTS[i]
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
        body |= {"temperature": 0, "max_tokens": 40}
        return httpx.post(base + CHAT, json=body, timeout=TIMEOUT)

    responses = _concurrently(4, run)
    assert responses[0].status_code == 500, responses[0].text
    assert responses[0].json()["error"]["code"] == "inference_failed"
    for response in responses[1:]:
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["completion_tokens"] == 40


def test_a_sequence_at_the_end_of_its_context_finishes_alone(scripted: ScriptedServer) -> None:
    base = scripted.base_url

    def run(i: int) -> dict[str, Any]:
        body = {"model": MODEL, "prompt": PROMPTS[i], "temperature": 0}
        body["max_tokens"] = 100_000 if i == 0 else 30  # clamped to the context
        return httpx.post(base + COMPLETIONS, json=body, timeout=TIMEOUT).json()

    replies = _concurrently(3, run)
    long = replies[0]
    n_ctx = 1024  # the tiny model's context
    assert long["choices"][0]["finish_reason"] == "length"
    assert long["usage"]["prompt_tokens"] + long["usage"]["completion_tokens"] == n_ctx
    for reply in replies[1:]:
        assert reply["choices"][0]["finish_reason"] == "length"
        assert reply["usage"]["completion_tokens"] == 30


def test_steps_the_kv_cache_refuses_are_retried_smaller() -> None:
    """Every step over 6 tokens is refused (the scripted KV cache is "full"): prompts of 16+
    tokens and 8 concurrent sequences still decode, in smaller steps, to the same text."""
    with faulty_server(INVARIANT, no_eos=1, kv_full_above=6) as server:
        base = server.base_url
        alone = [_stream_text(base, p, 20) for p in PROMPTS]
        together = _concurrently(len(PROMPTS), lambda i: _stream_text(base, PROMPTS[i], 20))
        assert together == alone
        assert model_health(base)["running"] == 0
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            # No step carried more than 6 tokens.
            samples = scrape(http)
            assert metric(samples, "inferno_batch_tokens_bucket", model=MODEL, le="4") > 0
            steps = metric(samples, STEPS, model=MODEL)
            assert metric(samples, "inferno_batch_tokens_bucket", model=MODEL, le="8") == steps
