"""POST /v1/responses/compact: the model's own summary in a `compaction` item, user messages kept,
a window the next request accepts; errors in the envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reference_server.errors import ApiError
from reference_server.responses_compaction import decode_summary, encode_summary
from tests.reference_server._assertions import MODEL, client, error_body, json_body
from tests.reference_server._responses import RESPONSES, create, response_body

COMPACT = "/v1/responses/compact"
CONVERSATION = [
    {"type": "message", "role": "user", "content": "We launch on Tuesday."},
    {"type": "message", "role": "assistant", "content": "Understood: Tuesday."},
    {"role": "user", "content": [{"type": "input_text", "text": "Notify support first."}]},
]


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with client(base_url) as c:
        yield c


def compact(http: httpx.Client, **body: Any) -> dict[str, Any]:
    return json_body(http.post(COMPACT, json={"model": MODEL, **body}), "compactResponse")


def test_a_conversation_compacts_to_its_user_messages_and_a_summary(http: httpx.Client) -> None:
    body = compact(http, input=CONVERSATION)
    assert body["object"] == "response.compaction" and body["id"]
    *kept, item = body["output"]
    assert [m["content"][0]["text"] for m in kept] == [
        "We launch on Tuesday.",
        "Notify support first.",
    ]
    assert all(m["role"] == "user" for m in kept)
    assert item["type"] == "compaction" and item["id"].startswith("cmp_")
    usage = body["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_compaction_is_deterministic(http: httpx.Client) -> None:
    # Greedy decoding: the same conversation gives the same summary.
    first, second = (compact(http, input=CONVERSATION)["output"][-1] for _ in range(2))
    assert first["encrypted_content"] == second["encrypted_content"]


def test_the_window_is_the_next_requests_input(http: httpx.Client) -> None:
    window = compact(http, input=CONVERSATION)["output"]
    follow_up = {"role": "user", "content": "When do we launch?"}
    plain = create(http, input=[*window[:-1], follow_up], max_output_tokens=16)
    with_summary = create(http, input=[*window, follow_up], max_output_tokens=16)
    assert with_summary["status"] in ("completed", "incomplete")
    # The summary reaches the prompt: the same request without it is shorter.
    assert with_summary["usage"]["input_tokens"] > plain["usage"]["input_tokens"]


def test_previous_response_id_is_part_of_the_conversation(http: httpx.Client) -> None:
    stored = create(http, input="Remember the code word: slate.", max_output_tokens=16)
    body = compact(http, previous_response_id=stored["id"], input="Compact this.")
    texts = [m["content"][0]["text"] for m in body["output"][:-1]]
    assert texts == ["Remember the code word: slate.", "Compact this."]


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"input": "Hi"}, 400, "model", None),
        ({"model": "nope", "input": "Hi"}, 404, "model", "model_not_found"),
        (
            {"model": MODEL, "previous_response_id": "resp_unknown"},
            404,
            "previous_response_id",
            "previous_response_not_found",
        ),
    ],
)
def test_errors(
    http: httpx.Client, body: dict[str, Any], status: int, param: str, code: str | None
) -> None:
    error = error_body(http.post(COMPACT, json=body), status)
    assert error["param"] == param and error["code"] == code


def test_a_forged_compaction_item_is_refused(http: httpx.Client) -> None:
    forged = {"type": "compaction", "encrypted_content": "gAAAA-not-ours"}
    response = http.post(RESPONSES, json=response_body(input=[forged]))
    assert error_body(response, 400)["param"] == "input[0].encrypted_content"


def test_the_summary_round_trips() -> None:
    text = "Launch: Tuesday. Ünïcode kept."
    assert decode_summary(encode_summary(text), "input") == text
    with pytest.raises(ApiError):
        decode_summary(encode_summary(text)[:-4] + "!!!!", "input")
