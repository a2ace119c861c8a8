"""POST /v1/completions: every prompt form, echo, legacy logprobs, n, stop and exact usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.reference_server._assertions import (
    COMPLETIONS,
    client,
    completion_body,
    error_body,
    json_body,
    tokenize,
)

OP = "createCompletion"


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def complete(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    return json_body(http.post(COMPLETIONS, json=completion_body(**overrides)), OP)


def texts(body: dict[str, Any]) -> list[str]:
    assert [c["index"] for c in body["choices"]] == list(range(len(body["choices"])))
    return [c["text"] for c in body["choices"]]


def test_string_prompt_counts_its_tokens_exactly(http: httpx.Client) -> None:
    prompt = "Once upon a time, héllo 🙂"
    body = complete(http, prompt=prompt, max_tokens=5)
    assert body["object"] == "text_completion"
    assert body["model"] == "inferno-tiny"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "length"
    assert choice["logprobs"] is None
    assert choice["text"]
    cached = body["usage"].pop("prompt_tokens_details")["cached_tokens"]
    assert 0 <= cached < len(tokenize(prompt))  # earlier requests may have left its prefix
    assert body["usage"] == {
        "prompt_tokens": len(tokenize(prompt)),
        "completion_tokens": 5,
        "total_tokens": len(tokenize(prompt)) + 5,
    }


def test_default_max_tokens_is_sixteen(http: httpx.Client) -> None:
    body = completion_body()
    del body["max_tokens"]
    reply = json_body(http.post(COMPLETIONS, json=body), OP)
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 16


def test_array_of_strings_gives_one_choice_per_prompt(http: httpx.Client) -> None:
    prompts = ["Hello", "The sea", "Once upon"]
    singles = [texts(complete(http, prompt=p))[0] for p in prompts]
    batch = complete(http, prompt=prompts)
    assert texts(batch) == singles
    assert batch["usage"]["prompt_tokens"] == sum(len(tokenize(p)) for p in prompts)


def test_token_ids_prompt_equals_its_text(http: httpx.Client) -> None:
    ids = tokenize("The sea")
    as_ids = complete(http, prompt=ids)
    as_text = complete(http, prompt="The sea")
    assert texts(as_ids) == texts(as_text)
    assert as_ids["usage"]["prompt_tokens"] == len(ids)


def test_array_of_token_arrays_gives_one_choice_per_prompt(http: httpx.Client) -> None:
    first, second = tokenize("Hello"), tokenize("Once upon")
    body = complete(http, prompt=[first, second])
    assert texts(body) == [texts(complete(http, prompt=p))[0] for p in ("Hello", "Once upon")]
    assert body["usage"]["prompt_tokens"] == len(first) + len(second)


def test_out_of_vocabulary_token_is_rejected(http: httpx.Client) -> None:
    response = http.post(COMPLETIONS, json=completion_body(prompt=[1, 10_000_000]))
    error_body(response, 400, OP, param="prompt")


def test_echo_prepends_the_prompt(http: httpx.Client) -> None:
    plain = texts(complete(http, max_tokens=6))[0]
    echoed = texts(complete(http, max_tokens=6, echo=True))[0]
    assert echoed == "Hello" + plain


def test_n_and_several_prompts_index_prompt_major(http: httpx.Client) -> None:
    body = complete(http, prompt=["Hello", "The sea"], n=2, temperature=1.0, seed=4, max_tokens=4)
    assert len(texts(body)) == 4
    assert body["usage"]["completion_tokens"] == 16
    alone = complete(http, prompt="The sea", n=2, temperature=1.0, seed=4, max_tokens=4)
    assert texts(body)[2:] == texts(alone)


def test_legacy_logprobs_shape(http: httpx.Client) -> None:
    body = complete(http, max_tokens=5, logprobs=2)
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    tokens = logprobs["tokens"]
    assert len(tokens) == body["usage"]["completion_tokens"] == 5
    assert len(logprobs["token_logprobs"]) == len(logprobs["top_logprobs"]) == 5
    assert "".join(tokens) == choice["text"]
    assert all(value <= 0 for value in logprobs["token_logprobs"])
    for token, value, top in zip(
        tokens, logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True
    ):
        assert 1 <= len(top) <= 2
        assert all(v <= 0 for v in top.values())
        assert top[token] == pytest.approx(value)  # temperature 0 picks a top token
        assert value == pytest.approx(max(top.values()))
    offsets = logprobs["text_offset"]
    assert offsets == sorted(offsets) and len(offsets) == 5
    for token, offset in zip(tokens, offsets, strict=True):
        assert choice["text"][offset : offset + len(token)] == token


def test_a_repeat_found_whole_in_the_cache_gives_the_same_tokens_and_logprobs(
    http: httpx.Client,
) -> None:
    """The second request starts from the logits kept for its prompt's last token: its first
    token, and the logprobs read from them, are those of the first request."""
    prompt = "A prompt of its own, asked twice: what does the lighthouse keeper see?"
    first = complete(http, prompt=prompt, max_tokens=6, logprobs=3, temperature=1.0, seed=9)
    again = complete(http, prompt=prompt, max_tokens=6, logprobs=3, temperature=1.0, seed=9)
    assert again["usage"]["prompt_tokens_details"] == {"cached_tokens": len(tokenize(prompt))}
    assert again["choices"][0]["text"] == first["choices"][0]["text"]
    assert again["choices"][0]["logprobs"] == first["choices"][0]["logprobs"]


def test_legacy_logprobs_offsets_follow_echo(http: httpx.Client) -> None:
    body = complete(http, max_tokens=4, logprobs=1, echo=True)
    choice = body["choices"][0]
    assert choice["text"].startswith("Hello")
    logprobs = choice["logprobs"]
    for token, offset in zip(logprobs["tokens"], logprobs["text_offset"], strict=True):
        assert choice["text"][offset : offset + len(token)] == token


def test_stop_cuts_the_completion(http: httpx.Client) -> None:
    text = texts(complete(http, max_tokens=12))[0]
    assert len(text) >= 8, text
    stop = text[4:8]
    body = complete(http, max_tokens=12, stop=[stop, "never there"])
    assert body["choices"][0]["finish_reason"] == "stop"
    assert texts(body) == [text[: text.index(stop)]]


def test_seed_makes_sampling_repeatable(http: httpx.Client) -> None:
    runs = [texts(complete(http, temperature=1.0, seed=s))[0] for s in (21, 21, 22, 23)]
    assert runs[0] == runs[1]
    assert len(set(runs)) >= 2


def test_best_of_below_n_is_rejected(http: httpx.Client) -> None:
    response = http.post(COMPLETIONS, json=completion_body(n=3, best_of=2))
    error_body(response, 400, OP, param="best_of")
