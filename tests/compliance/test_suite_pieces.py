"""Unit tests of the suite's building blocks: SSE parsing, bounds, stop derivation, baseline,
capability probing and report rendering."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest
import respx

from compliance import _baseline, _render
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
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


def test_baseline_keys_are_location_independent(tmp_path) -> None:
    assert _baseline.key("compliance/test_chat.py::test_x[a]") == "test_chat.py::test_x[a]"
    assert _baseline.key("../site-packages/compliance/test_chat.py::t") == "test_chat.py::t"
    path = tmp_path / "baseline.json"
    _baseline.write(str(path), {"test_a.py::t": "rule.a"}, {"test_a.py::t": "tracked in #12"})
    assert _baseline.load(str(path)) == {"test_a.py::t": "tracked in #12"}
    (tmp_path / "b.yaml").write_text("known_failures:\n  compliance/test_b.py::t: slow\n")
    assert _baseline.load(str(tmp_path / "b.yaml")) == {"test_b.py::t": "slow"}


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
