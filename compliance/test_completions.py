"""Legacy completions: shape, usage, max_tokens, stop, echo (plain and streamed) and legacy
logprobs."""

from __future__ import annotations

import pytest

from compliance import _facts
from compliance._answer import MODES, Answer, ask
from compliance._capabilities import Capabilities
from compliance._checks import check_usage, completion_body
from compliance._client import ApiClient
from compliance._failure import ensure
from compliance._options import Settings
from compliance._shared_rules import USAGE
from compliance.rules import CONTRACT, declare

OBJECT = declare("completions.object", CONTRACT, "a completion has object 'text_completion'")
ONE_CHOICE = declare(
    "completions.one-choice", CONTRACT, "without n there is exactly one choice, index 0"
)
ECHO = declare("completions.echo", CONTRACT, "echo=true puts the prompt before the completion")
LOGPROBS = declare(
    "completions.logprobs",
    CONTRACT,
    "logprobs=N gives the legacy shape: tokens, token_logprobs <= 0, top_logprobs of 1..N+1",
)


@pytest.fixture(autouse=True)
def _completions(caps: Capabilities) -> None:
    caps.need("completions")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def _complete(client: ApiClient, profile: str, body: dict, mode: str = "plain") -> Answer:
    return ask(client, "completions", body, mode, profile)


def test_completion_shape_and_usage(client: ApiClient, settings: Settings, model: str) -> None:
    answer = _complete(client, settings.profile, completion_body(model))
    body, ex = answer.body or {}, answer.exchange
    ensure(body["object"] == "text_completion", OBJECT, "object must be text_completion", ex)
    ensure(answer.indexes == [0], ONE_CHOICE, f"one choice, index 0; got {answer.indexes}", ex)
    if "usage" in body or settings.strict:
        check_usage(body.get("usage"), ex, USAGE)


def test_completion_max_tokens_gives_length(
    client: ApiClient, settings: Settings, model: str, mode: str
) -> None:
    _, cut = _facts.cut_answer(client, "completions", model, mode, settings.profile)
    _facts.check_cut(cut, "max_tokens")


@pytest.mark.preset("extended")
def test_completion_stop(client: ApiClient, settings: Settings, model: str, mode: str) -> None:
    stop, answer, free = _facts.stop_answer(client, "completions", model, mode, settings.profile)
    _facts.check_stop(stop, answer, free)


@pytest.mark.preset("extended")
def test_echo_prepends_prompt(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("echo")
    prompt = "The capital of France is"
    body = completion_body(model, prompt=prompt, max_tokens=4, echo=True)
    answer = _complete(client, settings.profile, body, mode)
    text, ex = answer.first.text, answer.exchange
    ensure(
        text.startswith(prompt),
        ECHO,
        f"echo=true: text must start with the prompt {prompt!r}, got {text[:80]!r}",
        ex,
    )


@pytest.mark.preset("extended")
def test_legacy_logprobs_shape(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities
) -> None:
    caps.need("logprobs")
    answer = _complete(client, settings.profile, completion_body(model, max_tokens=4, logprobs=2))
    body, ex = answer.body or {}, answer.exchange
    answer.require_choices()  # none: answer.empty, named as such
    lp = body["choices"][0].get("logprobs")
    ensure(isinstance(lp, dict), LOGPROBS, "logprobs=2 but absent", ex)
    tokens, values, tops = lp.get("tokens"), lp.get("token_logprobs"), lp.get("top_logprobs")
    ensure(
        isinstance(tokens, list) and tokens and isinstance(values, list),
        LOGPROBS,
        "legacy logprobs need tokens[] and token_logprobs[] (not the chat shape)",
        ex,
    )
    ensure(
        len(tokens) == len(values),
        LOGPROBS,
        f"{len(tokens)} tokens but {len(values)} token_logprobs",
        ex,
    )
    for value in values:
        ensure(value is None or value <= 0, LOGPROBS, f"logprob {value} > 0", ex)
    ensure(isinstance(tops, list), LOGPROBS, "top_logprobs must be a list", ex)
    for i, top in enumerate(tops):
        ensure(
            # OpenAI: the sampled token is always included, so up to logprobs + 1 entries.
            isinstance(top, dict) and 1 <= len(top) <= 3,
            LOGPROBS,
            f"logprobs=2: top_logprobs[{i}] must map 1 to 3 tokens, got {top!r}",
            ex,
        )
