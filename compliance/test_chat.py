"""Chat completions: shape, usage, token limits, n, stop, determinism, logprobs, response_format
and the input forms every client sends. Each behaviour runs plain and streamed (`mode`).
Model-agnostic: expectations come from the server's own answers."""

from __future__ import annotations

import json

import pytest

from compliance import _facts
from compliance._answer import MODES, Answer, answer_of, ask, request
from compliance._capabilities import JSON_SCHEMA_FORMAT, Capabilities
from compliance._checks import chat_body, check_usage
from compliance._client import ApiClient
from compliance._failure import ensure, fail
from compliance._options import Settings
from compliance._shared_rules import LANGCHAIN, LITELLM, SDK, USAGE
from compliance.rules import BREAKS_CLIENTS, CONTRACT, Rule, declare

ONE_CHOICE = declare("chat.one-choice", CONTRACT, "without n there is exactly one choice, index 0")
ROLE = declare("chat.role", BREAKS_CLIENTS, "message.role is 'assistant'", clients=(LANGCHAIN,))
CONTENT = declare(
    "chat.content",
    BREAKS_CLIENTS,
    "a text answer's message.content is a string",
    clients=(SDK, LANGCHAIN, LITELLM),
)
N_CHOICES = declare(
    "chat.n", CONTRACT, "n=2 gives two choices, indexes 0 and 1, each finished once"
)
DETERMINISM = declare(
    "chat.determinism", CONTRACT, "two temperature-0 answers to one request are identical"
)
SEED = declare("chat.seed", CONTRACT, "the same seed gives the same answer at temperature 1")
LOGPROBS = declare(
    "chat.logprobs",
    CONTRACT,
    "logprobs=true gives logprobs.content: one token each, logprob <= 0, top_logprobs as asked",
)
JSON_SCHEMA = declare(
    "chat.response-format.json-schema",
    BREAKS_CLIENTS,
    "response_format json_schema gives content that parses and matches the schema",
    clients=(SDK + " .parse", LANGCHAIN, "instructor"),
)
JSON_OBJECT = declare(
    "chat.response-format.json-object",
    CONTRACT,
    "response_format json_object gives content that parses as a JSON object",
)
INPUT_FORMS = {
    "content-parts": declare(
        "chat.input.content-parts",
        BREAKS_CLIENTS,
        'user content as a list of {"type": "text"} parts is accepted',
        clients=(LANGCHAIN, "pydantic-ai"),
    ),
    "system-message": declare(
        "chat.input.system", BREAKS_CLIENTS, "a system message is accepted", clients=(LANGCHAIN,)
    ),
    "developer-message": declare(
        "chat.input.developer", CONTRACT, "a developer message (the newer system role) is accepted"
    ),
    "stop-string": declare(
        "chat.input.stop-string", CONTRACT, "stop may be a single string as well as a list"
    ),
    "assistant-turn": declare(
        "chat.input.history",
        BREAKS_CLIENTS,
        "earlier assistant turns in messages are accepted",
        clients=(LANGCHAIN, "pydantic-ai"),
    ),
}
_FORM_MESSAGES = {
    "content-parts": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
    "system-message": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello."},
    ],
    "developer-message": [
        {"role": "developer", "content": "You are terse."},
        {"role": "user", "content": "Say hello."},
    ],
    "stop-string": [{"role": "user", "content": "Say hello."}],
    "assistant-turn": [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again."},
    ],
}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def test_chat_shape_and_usage(client: ApiClient, settings: Settings, model: str) -> None:
    answer = ask(client, "chat", chat_body(model), "plain", settings.profile)
    ex, body = answer.exchange, answer.body or {}
    ensure(len(body["choices"]) == 1, ONE_CHOICE, "expected exactly one choice", ex)
    choice = body["choices"][0]
    ensure(choice["index"] == 0, ONE_CHOICE, "the only choice must have index 0", ex)
    ensure(choice["message"]["role"] == "assistant", ROLE, "role must be assistant", ex)
    ensure(
        isinstance(choice["message"].get("content"), str),
        CONTENT,
        "message.content must be a string for a plain text answer",
        ex,
    )
    if "usage" in body or settings.strict:
        check_usage(body.get("usage"), ex, USAGE)
        _facts.check_honoured(answer, 16, "max_tokens")


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_gives_length(
    client: ApiClient, settings: Settings, model: str, limit_field: str, mode: str
) -> None:
    _, cut = _facts.cut_answer(client, "chat", model, mode, settings.profile, limit_field)
    _facts.check_cut(cut, limit_field)


def test_stop_sequence_cuts_output(
    client: ApiClient, settings: Settings, model: str, mode: str
) -> None:
    stop, answer, free = _facts.stop_answer(client, "chat", model, mode, settings.profile)
    _facts.check_stop(stop, answer, free)


@pytest.mark.preset("extended")
def test_n_choices(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("n")
    body = chat_body(model, n=2, temperature=1, max_tokens=4)
    answer = ask(client, "chat", body, mode, settings.profile)
    ex = answer.exchange
    ensure(
        answer.indexes == [0, 1],
        N_CHOICES,
        f"n=2 must give choices 0 and 1, got {answer.indexes}",
        ex,
    )
    for choice in answer.choices:
        ensure(
            len(choice.finish_reasons) == 1,
            N_CHOICES,
            f"choice {choice.index} must finish exactly once, got {choice.finish_reasons}",
            ex,
        )


@pytest.mark.preset("extended")
def test_temperature_zero_is_deterministic(
    client: ApiClient, settings: Settings, model: str
) -> None:
    first = ask(client, "chat", chat_body(model), "plain", settings.profile)
    second = ask(client, "chat", chat_body(model), "plain", settings.profile)
    a, b = first.said().content, second.said().content
    ensure(a == b, DETERMINISM, f"two temperature-0 answers differ: {a!r} / {b!r}", second.exchange)


@pytest.mark.preset("extended")
def test_same_seed_is_deterministic(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("seed")
    body = chat_body(model, temperature=1.0, seed=4242)
    first = ask(client, "chat", body, mode, settings.profile)
    second = ask(client, "chat", body, mode, settings.profile)
    a, b = first.said().text, second.said().text
    ensure(a == b, SEED, f"same seed gave different answers: {a!r} / {b!r}", second.exchange)


@pytest.mark.preset("extended")
def test_logprobs_shape(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("logprobs")
    body = chat_body(model, max_tokens=4, logprobs=True, top_logprobs=2)
    answer = ask(client, "chat", body, mode, settings.profile)
    ex, content = answer.exchange, answer.first.logprobs
    ensure(content, LOGPROBS, "logprobs requested but logprobs.content is absent or empty", ex)
    for i, item in enumerate(content):
        ensure(isinstance(item, dict), LOGPROBS, f"content[{i}] must be an object", ex)
        ensure(
            isinstance(item.get("token"), str), LOGPROBS, f"content[{i}].token must be a string", ex
        )
        value = item.get("logprob")
        ensure(
            isinstance(value, int | float) and value <= 0,
            LOGPROBS,
            f"content[{i}].logprob must be a number <= 0, got {value!r}",
            ex,
            cause="chat.logprobs range",
        )
        tops = item.get("top_logprobs")
        ensure(
            isinstance(tops, list) and len(tops) == 2,
            LOGPROBS,
            f"top_logprobs=2 but content[{i}] has {len(tops) if isinstance(tops, list) else tops}",
            ex,
            cause="chat.logprobs top-count",
        )
        for top in tops:
            ensure(top.get("logprob", 1) <= 0, LOGPROBS, "a top logprob is > 0", ex)


@pytest.mark.preset("extended")
def test_response_format_json_schema(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("response_format")
    parsed, ex = _json_reply(
        client,
        settings,
        model,
        mode,
        "Answer in JSON: is water wet?",
        JSON_SCHEMA_FORMAT,
        JSON_SCHEMA,
    )
    ensure(
        isinstance(parsed, dict) and isinstance(parsed.get("ok"), bool) and set(parsed) == {"ok"},
        JSON_SCHEMA,
        f"output {parsed!r} does not match the requested schema",
        ex,
    )


@pytest.mark.preset("extended")
def test_response_format_json_object(
    client: ApiClient, settings: Settings, model: str, caps: Capabilities, mode: str
) -> None:
    caps.need("response_format")
    parsed, ex = _json_reply(
        client,
        settings,
        model,
        mode,
        "Reply with a JSON object describing a cat.",
        {"type": "json_object"},
        JSON_OBJECT,
    )
    ensure(
        isinstance(parsed, dict),
        JSON_OBJECT,
        f"json_object output must be an object, got {type(parsed).__name__}",
        ex,
    )


JSON_MAX_TOKENS = 200


def _json_reply(
    client: ApiClient,
    settings: Settings,
    model: str,
    mode: str,
    content: str,
    response_format: dict,
    rule: Rule,
) -> tuple[object, object]:
    """The parsed JSON answer to a response_format request. Skips only when the token count
    shows the limit cut it (finish_reason alone is the server's word, not a fact)."""
    body = chat_body(
        model, content=content, response_format=response_format, max_tokens=JSON_MAX_TOKENS
    )
    answer = ask(client, "chat", body, mode, settings.profile)
    text = answer.first.text
    try:
        return json.loads(text), answer.exchange
    except ValueError:
        used = _facts.completion_tokens(answer)
        if used is not None and used >= JSON_MAX_TOKENS:
            pytest.skip(f"the JSON answer was cut by max_tokens={JSON_MAX_TOKENS}; cannot judge it")
        kind = response_format.get("type")
        fail(rule, f"{kind} output does not parse: {text!r}", answer.exchange)


@pytest.mark.parametrize("form", list(INPUT_FORMS))
def test_mandatory_input_forms(
    client: ApiClient, settings: Settings, model: str, form: str, mode: str
) -> None:
    """Forms every client sends are part of the contract: a 400 here is a failure, not a
    declined feature."""
    extra = {"stop": "zzzz-never"} if form == "stop-string" else {}
    body = {**chat_body(model, max_tokens=4, **extra), "messages": _FORM_MESSAGES[form]}
    answer = _accepted(client, body, mode, settings.profile, INPUT_FORMS[form])
    ensure(answer.choices, INPUT_FORMS[form], "the answer has no choice", answer.exchange)


def _accepted(client: ApiClient, body: dict, mode: str, profile: str, rule: Rule) -> Answer:
    exchange = request(client, "chat", body, mode, profile)
    if exchange.status is not None and exchange.status != 200:
        fail(rule, f"a request every client may send was answered {exchange.status}", exchange)
    return answer_of(exchange, "chat", mode, profile)
