"""How a check's verdict is settled: soft failures, shed load (retried, then inconclusive), an
unresponsive endpoint family, one row per cause, and the rules a run did not reach."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from compliance import _coverage, _outcome, _shed, _verdict
from compliance._checks import expect_error
from compliance._client import ApiClient, Exchange
from compliance._endpoints import (
    SUSPECT_WAIT_S,
    UNRESPONSIVE,
    WATCH,
    EndpointWatch,
    family_of,
)
from compliance._failure import ComplianceFailure, begin_soft, end_soft, fail_soft
from compliance._shared_rules import CHUNK_SCHEMA, SCHEMA, STATUS


@pytest.mark.parametrize(
    ("url", "family"),
    [
        ("http://127.0.0.1:8000/v1/chat/completions", "chat"),
        ("http://127.0.0.1:8000/v1/completions", "completions"),
        ("http://127.0.0.1:8000/v1/embeddings", "embeddings"),
        ("http://127.0.0.1:8000/v1/responses/resp_1/input_items", "responses"),
        ("http://127.0.0.1:8000/v1/models/tiny", "models"),
        ("http://127.0.0.1:8000/v1/nowhere", "other"),
    ],
)
def test_endpoint_families(url: str, family: str) -> None:
    assert family_of(url) == family


def test_two_expiries_in_a_row_make_a_family_unresponsive() -> None:
    watch = EndpointWatch()
    chat = "http://127.0.0.1:1/v1/chat/completions"
    watch.expired(chat)
    assert watch.refusal(chat) is None  # off until a suite run enables it
    watch.enabled = True
    watch.answered(chat)
    watch.expired(chat)
    watch.answered(chat)  # an answer in between: the streak starts again
    watch.expired(chat)
    assert watch.refusal(chat) is None
    watch.expired(chat)
    refusal = watch.refusal(chat)
    assert refusal is not None and "chat" in refusal
    # Same server, a family that never answered: its first expiry is enough.
    embeddings = "http://127.0.0.1:1/v1/embeddings"
    watch.expired(embeddings)
    assert watch.refusal(embeddings) is not None
    # A family that answered once still gets two; another server is not concerned at all.
    models = "http://127.0.0.1:1/v1/models/x"
    watch.answered(models)
    watch.expired(models)
    assert watch.refusal(models) is None
    assert watch.refusal("http://127.0.0.1:2/v1/chat/completions") is None
    assert watch.unresponsive() == [
        "chat (http://127.0.0.1:1)",
        "embeddings (http://127.0.0.1:1)",
    ]


def test_a_server_known_to_hang_gets_a_short_wait_on_routes_that_never_answered() -> None:
    watch = EndpointWatch()
    watch.enabled = True
    server = "http://127.0.0.1:1/v1"
    listing, one_model = f"{server}/models", f"{server}/models/tiny"
    watch.answered(listing)
    assert watch.headers_wait(f"{server}/embeddings", 30.0) == 30.0  # nothing hangs yet
    watch.expired(f"{server}/chat/completions")
    watch.expired(f"{server}/chat/completions")
    assert watch.headers_wait(f"{server}/embeddings", 30.0) == SUSPECT_WAIT_S
    assert watch.headers_wait(f"{server}/embeddings", 2.0) == 2.0  # never longer than asked
    assert watch.headers_wait(listing, 30.0) == 30.0  # it answered: the full deadline
    assert watch.headers_wait(one_model, 30.0) == SUSPECT_WAIT_S  # a route that never did
    assert watch.headers_wait("http://127.0.0.1:2/v1/embeddings", 30.0) == 30.0
    watch.expired(one_model)  # its first expiry is enough: the models family is given up
    assert watch.refusal(listing) is not None


def test_the_short_wait_ends_the_exchange_and_says_why() -> None:
    # A socket that accepts connections (the kernel's backlog) and never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = ApiClient(f"{host}/v1", None, 30.0)
        try:
            WATCH.enabled = True
            WATCH._unresponsive[(host, "chat")] = 2
            exchange = client.post("/embeddings", {"model": "m", "input": "x"})
        finally:
            WATCH._unresponsive.clear()
            WATCH._answered.clear()
            WATCH.enabled = False
            client.close()
    assert exchange.error_rule == "transport.deadline", exchange.describe()
    assert SUSPECT_WAIT_S <= exchange.elapsed < SUSPECT_WAIT_S + 3, exchange.elapsed
    assert "already let another family hang" in (exchange.error or ""), exchange.error


def test_a_refused_exchange_fails_under_the_unresponsive_rule() -> None:
    client = ApiClient("http://127.0.0.1:9/v1", None, 1.0)  # discard port: never contacted
    url = client.url("/chat/completions")
    try:
        WATCH.enabled = True
        WATCH._unresponsive[("http://127.0.0.1:9", "chat")] = 2
        exchange = client.post("/chat/completions", {"model": "m"})
    finally:
        WATCH._unresponsive.pop(("http://127.0.0.1:9", "chat"), None)
        WATCH.enabled = False
        client.close()
    assert exchange.error_rule == UNRESPONSIVE.id and exchange.elapsed < 0.5
    failure = ComplianceFailure(STATUS, "expected 200", exchange)
    assert failure.rule is UNRESPONSIVE and failure.cause == f"{UNRESPONSIVE.id}: chat"
    assert url in failure.render()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("0", 0.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert _shed.retry_after_s(value) == seconds


def test_retry_after_as_a_date() -> None:
    assert _shed.retry_after_s("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_the_shed_budget_bounds_retries_and_waiting() -> None:
    slept: list[float] = []
    ledger = _shed.ShedLedger(sleep=slept.append)
    ledger.configure(retries=2, wait_s=5.0)
    assert ledger.wait(2.0, 0) and ledger.wait(2.0, 1)
    assert not ledger.wait(0.0, 2)  # retries per exchange spent
    assert not ledger.wait(2.0, 0)  # 4 of 5 s spent: the next 2 s would pass the run's budget
    assert ledger.wait(1.0, 0) and slept == [2.0, 2.0, 1.0]


class _Shedding(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    shed_first = 2
    seen = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen += 1
        shed = type(self).seen <= type(self).shed_first
        body = b'{"error": {"message": "busy"}}' if shed else b'{"ok": true}'
        self.send_response(429 if shed else 200)
        if shed:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shedding() -> Iterator[type[_Shedding]]:
    handler = type("Handler", (_Shedding,), {"seen": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/v1"  # type: ignore[attr-defined]
    _shed.SHED.configure(3, 10.0)
    _shed.SHED.start_check()
    yield handler
    server.shutdown()
    server.server_close()
    _shed.SHED.start_check()


def test_shed_load_is_retried_after_the_advised_delay(shedding: type[_Shedding]) -> None:
    client = ApiClient(shedding.url, None, 5.0)  # type: ignore[attr-defined]
    try:
        exchange = client.post("/chat/completions", {"model": "m"})
    finally:
        client.close()
    assert exchange.status == 200 and shedding.seen == 3
    assert _shed.SHED.in_check() == []


def test_shed_load_beyond_the_budget_is_recorded(shedding: type[_Shedding]) -> None:
    shedding.shed_first = 10
    client = ApiClient(shedding.url, None, 5.0)  # type: ignore[attr-defined]
    try:
        exchange = client.post("/chat/completions", {"model": "m"})
        evidence = client.post("/chat/completions", {"model": "m"}, retry_shed=False)
    finally:
        client.close()
    assert exchange.status == 429 and shedding.seen == 5  # 1 + 3 retries, then one not retried
    assert evidence.status == 429
    assert len(_shed.SHED.in_check()) == 1  # the check of shedding records nothing
    assert "Retry-After: 0" in _shed.SHED.in_check()[0]


def _soft(cause: str) -> ComplianceFailure:
    return ComplianceFailure(SCHEMA, f"schema: {cause}", cause=cause)


def test_soft_failures_fail_the_check_at_its_end() -> None:
    soft = [_soft("$.a"), _soft("$.b")]
    with pytest.raises(ComplianceFailure) as raised:
        _outcome.settle(soft, None, [])
    assert raised.value is soft[0] and raised.value.also == [soft[1]]


def test_a_hard_failure_carries_the_soft_ones() -> None:
    hard = ComplianceFailure(SCHEMA, "body is not an object", cause="$")
    _outcome.settle([_soft("$.a")], hard, [])
    assert [f.cause for f in hard.also] == ["$.a"]


@pytest.mark.parametrize("after", [KeyError("choices"), pytest.skip.Exception("no text")])
def test_a_crash_or_skip_after_a_soft_failure_reports_the_soft_failure(
    after: BaseException,
) -> None:
    soft = _soft("$.choices")
    with pytest.raises(ComplianceFailure) as raised:
        _outcome.settle([soft], after, [])
    assert raised.value is soft


def test_a_failed_check_that_met_shed_load_is_inconclusive() -> None:
    shed = ["429 (Retry-After: 5) from http://127.0.0.1:1/v1/chat/completions"]
    with pytest.raises(_outcome.Inconclusive) as raised:
        _outcome.settle([], ComplianceFailure(STATUS, "expected 200, got 429"), shed)
    assert "Retry-After: 5" in str(raised.value) and raised.value.shed == shed
    _outcome.settle([], None, shed)  # it passed all the same: a pass
    # A plain skip is left to stand: the caller raises it again.
    assert _outcome.settle([], pytest.skip.Exception("no n"), shed) is None


def test_fail_soft_records_once_per_cause_within_a_check_only() -> None:
    with pytest.raises(ComplianceFailure):
        fail_soft(CHUNK_SCHEMA, "outside a check", cause="x")
    begin_soft()
    for _ in range(3):
        fail_soft(CHUNK_SCHEMA, "every chunk", cause="$.choices[*]: 'finish_reason'")
    fail_soft(CHUNK_SCHEMA, "every chunk", cause="$.created: type integer")
    assert [f.cause for f in end_soft()] == [
        "$.choices[*]: 'finish_reason'",
        "$.created: type integer",
    ]


def _failed(test_id: str, *deviations: dict) -> dict:
    return {
        "test_id": test_id,
        "outcome": "failed",
        "reason": "x",
        "details": {**deviations[0], "deviations": list(deviations), "rules": []},
    }


def test_each_fault_a_check_met_is_its_own_row() -> None:
    result = _failed(
        "compliance/test_streaming.py::test_stream_framing_and_chunks[chat]",
        {"rule": "sse.same-id", "cause": "sse.same-id", "message": "ids"},
        {"rule": "schema.chunk", "cause": "$.created: type integer", "message": "created"},
        {"rule": "schema.chunk", "cause": "$.choices[*]: finish_reason", "message": "finish"},
    )
    rows = _verdict.deviations([result])
    assert sorted((d["rule"], d["cause"]) for d in rows) == [
        ("schema.chunk", "$.choices[*]: finish_reason"),
        ("schema.chunk", "$.created: type integer"),
        ("sse.same-id", "sse.same-id"),
    ]
    assert _verdict.score([result], rows)["rules_broken"] == 2


def test_the_unresponsive_row_comes_first() -> None:
    results = [
        _failed("compliance/test_chat.py::test_a", {"rule": "http.status", "cause": "c"}),
        _failed("compliance/test_chat.py::test_b", {"rule": UNRESPONSIVE.id, "cause": "u"}),
    ]
    assert _verdict.deviations(results)[0]["rule"] == UNRESPONSIVE.id


def test_rules_not_reached_say_why() -> None:
    results = [
        {
            "test_id": "compliance/test_embeddings.py::test_single_string",
            "outcome": "skipped",
            "reason": "the server has no embeddings",
            "details": {},
        },
        _failed("compliance/test_streaming.py::test_x", {"rule": "sse.same-id", "cause": "c"}),
    ]
    why = {u["rule"]: u["why"] for u in _coverage.unreached(results, "openai")}
    assert why["embeddings.vectors"] == "skipped: the server has no embeddings"
    assert why["strict.error-param"].startswith("strict profile only")
    assert why["sse.first-role"].startswith("possibly stopped early by another failure")
    assert why["models.list"].startswith("test_models was not selected")
    assert "sse.same-id" not in why


def _error_answer(path: str, code: str) -> Exchange:
    body = json.dumps({"error": {"message": "no", "type": "invalid_request_error", "code": code}})
    return Exchange(
        "POST",
        f"http://127.0.0.1:1/v1{path}",
        {},
        b"{}",
        status=400,
        headers={"content-type": "application/json"},
        body=body.encode(),
    )


def test_error_status_rows_split_by_family_and_code() -> None:
    causes = set()
    for path, code in [
        ("/chat/completions", "model_not_found"),
        ("/responses", "model_not_found"),
        ("/responses", "previous_response_not_found"),
        ("/responses", "previous_response_not_found"),
    ]:
        with pytest.raises(ComplianceFailure) as raised:
            expect_error(_error_answer(path, code), {404}, "openai")
        assert raised.value.rule.id == "errors.status"
        causes.add(raised.value.cause)
    assert causes == {
        "chat: answers 400 (code model_not_found) where OpenAI answers 404",
        "responses: answers 400 (code model_not_found) where OpenAI answers 404",
        "responses: answers 400 (code previous_response_not_found) where OpenAI answers 404",
    }
