"""`stream_options` without `stream: true` is refused the way OpenAI refuses it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.reference_server._assertions import (
    CHAT,
    COMPLETIONS,
    chat_body,
    client,
    completion_body,
    error_body,
)


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
@pytest.mark.parametrize("stream", [None, False])
def test_stream_options_without_stream_is_refused(
    http: httpx.Client, path: str, stream: bool | None
) -> None:
    body = chat_body() if path == CHAT else completion_body()
    body["stream_options"] = {"include_usage": True}
    if stream is not None:
        body["stream"] = stream
    error = error_body(http.post(path, json=body), 400, param="stream_options")
    assert "stream_options" in error["message"], error


def test_stream_options_null_without_stream_is_accepted(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body(stream_options=None))
    assert response.status_code == 200, response.text
