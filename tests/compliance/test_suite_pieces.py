"""Unit tests of the suite's building blocks: SSE parsing, bounds, stop derivation, baseline,
capability probing, the answer helpers, schema messages and report rendering."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest
import respx

from compliance import _baseline, _entry, _render, _responses, _schema
from compliance._answer import ask
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ComplianceFailure
from compliance._sse import read_events
from compliance._stop import pick_stop


def test_read_events_stops_an_endless_stream() -> None:
    endless = (b"data: {}\n\n" for _ in itertools.count())
    result = read_events(endless, deadline_s=10, max_events=50)
    assert result.stopped == "max_events"
    assert len(result.events) <= 60


def test_read_events_stops_at_the_deadline() -> None:
    def slow():
        while True:
            yield b": tick\n\n"

    result = read_events(slow(), deadline_s=0.05, max_events=10)
    assert result.stopped == "deadline"


def test_read_events_reports_a_broken_stream() -> None:
    def broken():
        yield b"data: 1\n\n"
        raise httpx.RemoteProtocolError("peer closed")

    result = read_events(broken(), deadline_s=5, max_events=10)
    assert result.stopped.startswith("error: RemoteProtocolError")
    assert [e.data for e in result.events] == ["1"]


@pytest.mark.parametrize(
    "text,ok",
    [("Hello there, general Kenobi", True), ("ab", False), ("aaaaaaaa", False), ("", False)],
)
def test_pick_stop_cuts_after_a_prefix(text: str, ok: bool) -> None:
    stop = pick_stop(text)
    assert (stop is not None) == ok
    if stop:
        assert text.find(stop) >= 3


def test_baseline_keys_are_location_independent() -> None:
    assert _baseline.key("compliance/test_chat.py::test_x[a]") == "test_chat.py::test_x[a]"
    assert _baseline.key("../site-packages/compliance/test_chat.py::t") == "test_chat.py::t"


def _ran(test_id: str, outcome: str, rule: str | None = None, *evaluated: str) -> dict:
    details = {"rules": [*evaluated, *([rule] if rule else [])]}
    return {"test_id": test_id, "outcome": outcome, "details": details | {"rule": rule}}


def test_a_baseline_knows_rules_wherever_they_show(tmp_path) -> None:
    path = tmp_path / "baseline.json"
    failures = [
        _baseline.Failure("test_chat.py::t[plain]", "chat.seed", "same seed, other answers"),
        _baseline.Failure("test_chat.py::t[stream]", "chat.seed", "same seed, other answers"),
        _baseline.Failure("test_x.py::odd", None, "KeyError: 'choices'"),
    ]
    previous = _baseline.Baseline({"chat.seed": _baseline.Entry("tracked in #12")})
    _baseline.write(str(path), failures, previous)
    written = json.loads(path.read_text())["known_rules"]
    assert written["chat.seed"] == {
        "reason": "tracked in #12",  # a person's reason survives an update
        "tests": ["test_chat.py::t[plain]", "test_chat.py::t[stream]"],
    }
    baseline = _baseline.load(str(path))
    assert baseline.known("test_chat.py::t[plain]", "chat.seed") == "tracked in #12"
    assert baseline.known("test_tools.py::other", "chat.seed") == "tracked in #12"
    # A new rule fails the run, in a baselined test too; an unclassified failure is known only
    # in the tests listed with it.
    assert baseline.known("test_chat.py::t[plain]", "chat.determinism") is None
    assert baseline.known("test_x.py::odd", None) == "KeyError: 'choices'"
    assert baseline.known("test_x.py::new", None) is None


def test_older_test_id_baselines_still_load(tmp_path) -> None:
    (tmp_path / "b.yaml").write_text(
        "known_failures:\n"
        "  compliance/test_b.py::t: tracked as issue 7\n"
        "  test_c.py::u: usage.counts\n"
    )
    baseline = _baseline.load(str(tmp_path / "b.yaml"))
    assert baseline.tests == {"test_b.py::t": "tracked as issue 7", "test_c.py::u": "usage.counts"}
    assert (
        baseline.known("test_b.py::t", "schema.body") == "tracked as issue 7"
    )  # any failure there
    # The reason --update-baseline wrote was the rule id: only that rule is known there.
    assert baseline.known("test_c.py::u", "usage.counts") == "usage.counts"
    assert baseline.known("test_c.py::u", "schema.body") is None
    assert baseline.known("test_d.py::v", "usage.counts") is None
    (tmp_path / "c.json").write_text('["test_e.py::w"]')
    assert _baseline.load(str(tmp_path / "c.json")).known("test_e.py::w", None)
    # An update rewrites it by rule, keeping the reason a person wrote.
    out = tmp_path / "new.json"
    _baseline.write(str(out), [_baseline.Failure("test_b.py::t", "chat.n", "m")], baseline)
    assert json.loads(out.read_text())["known_rules"]["chat.n"]["reason"] == "tracked as issue 7"


def test_stale_baseline_entries_are_the_ones_that_no_longer_fail() -> None:
    baseline = _baseline.Baseline(
        {
            "chat.seed": _baseline.Entry("r"),
            "chat.n": _baseline.Entry("r"),
            "sse.done": _baseline.Entry("r"),
            "unclassified": _baseline.Entry("r", ("test_x.py::odd",)),
        },
        {"test_old.py::t": "r", "test_old.py::u": "r"},
    )
    results = [
        _ran("test_chat.py::seed", "passed", None, "chat.seed"),  # evaluated, held: stale
        _ran("test_chat.py::n", "known", "chat.n"),  # still failing
        _ran("test_x.py::odd", "passed"),
        _ran("test_old.py::t", "passed"),
        _ran("test_old.py::u", "failed", "http.status"),
    ]  # sse.done was not evaluated in this run: not judged
    assert baseline.stale(results) == ["chat.seed", "unclassified", "test_old.py::t"]


@respx.mock
def test_capability_absent_only_on_explicit_rejection() -> None:
    respx.post("http://srv/v1/embeddings").respond(
        404,
        json={"error": {"message": "no embeddings here", "type": "x", "param": None, "code": None}},
    )
    respx.post("http://srv/v1/chat/completions").respond(500, json={"error": "boom"})
    caps = Capabilities(ApiClient("http://srv/v1", None, 5), "m", "m", frozenset({"tools"}))
    assert not caps.probe("embeddings").present
    assert "no embeddings here" in caps.probe("embeddings").reason
    assert caps.probe("tools").present  # a 500 is a bug to report, never "unsupported"
    with pytest.raises(pytest.skip.Exception):
        caps.need("embeddings")


@respx.mock
def test_required_capability_fails_instead_of_skipping() -> None:
    respx.post("http://srv/v1/embeddings").respond(501, json={})
    caps = Capabilities(ApiClient("http://srv/v1", None, 5), "m", "m", frozenset({"embeddings"}))
    with pytest.raises(pytest.fail.Exception, match=r"capability\.required"):
        caps.need("embeddings")


@respx.mock
def test_client_turns_transport_errors_into_findings() -> None:
    respx.post("http://srv/v1/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    exchange = ApiClient("http://srv/v1", "secret", 1).post("/chat/completions", {"a": 1})
    assert exchange.status is None and "ReadTimeout" in exchange.error
    assert "secret" not in exchange.describe()


def test_report_renders_failures_with_rule_request_and_response() -> None:
    data = {
        "server": {"base_url": "http://x/v1", "models": ["m"]},
        "settings": {"preset": "core", "profile": "openai"},
        "started": "now",
        "duration_s": 1,
        "score": 50.0,
        "matrix": {"chat": {"passed": 1, "failed": 1, "skipped": 0, "known": 0}},
        "fixed_baseline_entries": ["test_a.py::t"],
        "results": [
            {
                "test_id": "test_chat.py::t",
                "outcome": "failed",
                "reason": "boom",
                "details": {
                    "rule": "chat.usage",
                    "message": "usage <b>wrong</b>",
                    "request": "POST http://x/v1/chat/completions",
                    "status": 200,
                    "response": json.dumps({"usage": {}}),
                    "curl": "curl -X POST",
                },
            }
        ],
    }
    page = _render.html(data)
    assert "chat.usage" in page and "&lt;b&gt;wrong" in page and "<script" not in page
    md = _render.markdown(data)
    assert "fixed, remove from baseline" in md and "`chat.usage`" in md


def _chat_reply(choices: list[dict], mode: str) -> httpx.Response:
    head = {"id": "c1", "created": 1, "model": "m"}
    if mode == "plain":
        body = {**head, "object": "chat.completion", "choices": choices}
        return httpx.Response(200, json=body)
    chunk = {**head, "object": "chat.completion.chunk", "choices": choices}
    events = "".join(f"data: {json.dumps(c)}\n\n" for c in (chunk, chunk)) + "data: [DONE]\n\n"
    return httpx.Response(200, text=events, headers={"Content-Type": "text/event-stream"})


def _rule_of(call) -> str:
    with pytest.raises(ComplianceFailure) as caught:
        call()
    return caught.value.rule.id


@pytest.mark.parametrize("mode", ["plain", "stream"])
@respx.mock
def test_an_answer_without_a_choice_or_content_proves_nothing(mode: str) -> None:
    """The answer helpers every comparing and streamed check reads: no invented choice."""
    route = respx.post("http://srv/v1/chat/completions")
    client = ApiClient("http://srv/v1", None, 5)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    route.mock(return_value=_chat_reply([], mode))
    empty = ask(client, "chat", body, mode, "openai")
    assert _rule_of(lambda: empty.first) == "answer.empty"
    assert _rule_of(empty.said) == "answer.empty"
    blank = {"index": 0, "finish_reason": "stop", "logprobs": None}
    if mode == "plain":
        blank["message"] = {"role": "assistant", "content": "", "refusal": None}
    else:
        blank["delta"] = {"role": "assistant", "content": ""}
    route.mock(return_value=_chat_reply([blank], mode))
    said_nothing = ask(client, "chat", body, mode, "openai")
    assert said_nothing.first.index == 0
    assert _rule_of(said_nothing.said) == "answer.empty"
    assert _rule_of(lambda: _responses.said({"output": []}, None, "it")) == "answer.empty"
    # Only reasoning: the model's own sign that it spent the limit thinking, not a failure.
    (blank.get("message") or blank["delta"])["reasoning_content"] = "Let me think"
    route.mock(return_value=_chat_reply([blank], mode))
    with pytest.raises(pytest.skip.Exception, match="reasoning"):
        ask(client, "chat", body, mode, "openai").said()
    thought = {"output": [{"type": "reasoning", "id": "rs_1", "summary": []}]}
    with pytest.raises(pytest.skip.Exception, match="reasoning"):
        _responses.said(thought, None, "the response")


def test_a_required_key_that_may_be_null_is_reported_as_absent() -> None:
    validator = _schema.chunk("createChatCompletion", "openai")
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunk["choices"] = [{"index": 0, "delta": {"content": "a"}}]
    assert _schema.explain(validator, chunk) == [
        "at $.choices[0]: 'finish_reason': key absent (null is allowed) (schema keyword: required)"
    ]
    del chunk["choices"][0]["delta"]  # required and never null: jsonschema's own words
    chunk["choices"][0]["finish_reason"] = None
    assert "'delta' is a required property" in _schema.explain(validator, chunk)[0]


def test_the_entry_gate_survives_arguments_that_are_no_path(tmp_path) -> None:
    long_expression = " or ".join(f"case-{i}" for i in range(60))  # over any file name limit
    assert not _entry.runs_the_suite(["-k", long_expression], tmp_path)
    assert _entry.runs_the_suite(["-k", long_expression, str(_entry._HERE)], tmp_path)
