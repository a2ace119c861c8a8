"""API keys: missing or wrong → 401 on /v1/* POST routes; /health stays open; keys not logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from inferno.launcher import ServerProcess, reference_server_process
from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    HELLO,
    MODEL,
    chat_body,
    client,
    completion_body,
    error_body,
    json_body,
    sdk_client,
)

KEYS = ("k1-flag-key", "k2-flag-key")
ENV_KEY = "k3-env-key"
WRONG = "wrong-key-that-must-never-be-logged"
ROUTES = [
    (CHAT, chat_body(max_tokens=2), "createChatCompletion"),
    (COMPLETIONS, completion_body(max_tokens=2), "createCompletion"),
    (EMBEDDINGS, {"model": MODEL, "input": "Hello"}, "createEmbedding"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    args = ["--model", "tiny", "--api-key", KEYS[0], "--api-key", KEYS[1]]
    with reference_server_process(args, env={"INFERNO_API_KEYS": f" {ENV_KEY} ,"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server.base_url) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(("path", "body", "operation_id"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer(WRONG),
        {"Authorization": "Bearer"},
        bearer(KEYS[0] + "x"),
        bearer(KEYS[0][:-1]),
        {"Authorization": KEYS[0]},  # no scheme
        {"Authorization": f"Basic {KEYS[0]}"},
        {"X-Api-Key": KEYS[0]},
    ],
    ids=["none", "wrong", "empty", "longer", "prefix", "no-scheme", "basic", "other-header"],
)
def test_missing_or_wrong_key_is_401(
    http: httpx.Client,
    path: str,
    body: dict[str, Any],
    operation_id: str,
    headers: dict[str, str],
) -> None:
    response = http.post(path, json=body, headers=headers)
    error_body(response, 401, operation_id)


@pytest.mark.parametrize(("path", "body", "operation_id"), ROUTES)
@pytest.mark.parametrize("key", [*KEYS, ENV_KEY])
def test_every_configured_key_is_accepted(
    http: httpx.Client, path: str, body: dict[str, Any], operation_id: str, key: str
) -> None:
    json_body(http.post(path, json=body, headers=bearer(key)), operation_id)


def test_scheme_is_case_insensitive(http: httpx.Client) -> None:
    headers = {"Authorization": f"bearer {KEYS[1]}"}
    json_body(
        http.post(CHAT, json=chat_body(max_tokens=2), headers=headers), "createChatCompletion"
    )


def test_authentication_comes_before_validation(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": MODEL, "temperature": 9})
    error_body(response, 401, "createChatCompletion")


def test_health_stays_open(http: httpx.Client) -> None:
    assert json_body(http.get("/health"), "getHealth")["status"] == "ok"


def test_sdk_raises_authentication_error(server: ServerProcess) -> None:
    for key in (WRONG, "sk-" + KEYS[0]):
        sdk = sdk_client(server.base_url, key)
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
        error_body(caught.value.response, 401, "createChatCompletion")
        assert caught.value.type == "authentication_error"
    ok = sdk_client(server.base_url, KEYS[1])
    reply = ok.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    assert reply.choices[0].message.role == "assistant"


def test_keys_never_reach_the_log(http: httpx.Client, server: ServerProcess) -> None:
    http.post(CHAT, json=chat_body(max_tokens=2), headers=bearer(WRONG))
    http.post(CHAT, json=chat_body(max_tokens=2), headers=bearer(KEYS[0]))
    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    for secret in (WRONG, *KEYS, ENV_KEY):
        assert secret not in log
