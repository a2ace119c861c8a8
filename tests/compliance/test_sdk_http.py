"""The openai SDK on the suite's bounded transport, in the SDK's own HTTP library."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from compliance._sdk_http import sdk_http_client, sdk_http_library
from compliance._transport import Limits
from tests.compliance._hostile_servers import CASES, MODEL_ID, HostileServer

DEADLINE_S = 1.5


def _sdk(base_url: str, limits: Limits = Limits()) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url,
        api_key="unused",
        max_retries=0,
        timeout=DEADLINE_S,
        http_client=sdk_http_client(DEADLINE_S, limits),
    )


def test_the_client_is_of_the_sdks_own_library() -> None:
    library = sdk_http_library()
    assert isinstance(openai.DefaultHttpxClient(), library.Client)
    client = sdk_http_client(DEADLINE_S)
    assert isinstance(client, library.Client)
    if library is not httpx:  # nothing of httpx is handed to a client built on another library
        assert not isinstance(client, httpx.Client)
        assert not isinstance(client._transport, httpx.BaseTransport)
        assert not isinstance(client.timeout, httpx.Timeout)
    client.close()


def test_the_sdk_reads_models_through_the_bridge() -> None:
    with HostileServer(CASES["silent"]) as server:  # GET /v1/models is answered properly
        models = _sdk(server.base_url).models.list()
    assert [m.id for m in models] == [MODEL_ID]


def test_a_server_that_never_answers_is_an_sdk_timeout_within_the_deadline() -> None:
    with HostileServer(CASES["trickle-headers"]) as server:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError) as caught:
            _sdk(server.base_url).chat.completions.create(
                model=MODEL_ID, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S + 2.0
    assert "transport.deadline" in str(caught.value.__cause__)


def test_a_body_over_the_limit_is_an_sdk_connection_error_naming_the_rule() -> None:
    limits = Limits(raw_bytes=64 * 1024)
    with (
        HostileServer(CASES["huge-body"]) as server,
        pytest.raises(openai.APIConnectionError) as caught,
    ):
        _sdk(server.base_url, limits).chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert "transport.size-limit" in str(caught.value.__cause__)
