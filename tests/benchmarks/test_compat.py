"""`make compat` without running it: the Open Responses column group, the proxy peer's setup
and start order, and which runs may write docs/compatibility.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks import _compat_render, _litellm, _peers, _profiles, compat
from benchmarks._server import serve

ROOT = Path(__file__).resolve().parents[2]


def _report(results: list[tuple[str, str]], deviations: list[dict[str, Any]]) -> dict[str, Any]:
    """A trimmed suite report: (test id, outcome) pairs and root causes."""
    passed = sum(1 for _, outcome in results if outcome == "passed")
    return {
        "score": 100.0 * passed / len(results),
        "summary": {
            "checks_passed": passed,
            "checks_applicable": len(results),
            "check_score": round(100.0 * passed / len(results), 1),
            "weighted_score": 50.0 if deviations else 100.0,
            "deviations_by_severity": {"contract": len(deviations)} if deviations else {},
        },
        "matrix": {"responses": {"passed": passed, "failed": len(results) - passed}},
        "deviations": deviations,
        "results": [
            {"test_id": test_id, "area": "responses", "outcome": outcome, "reason": "why"}
            for test_id, outcome in results
        ],
    }


def _deviation(rule: str, cause: str, check: str) -> dict[str, Any]:
    return {
        "rule": rule,
        "severity": "contract",
        "cause": cause,
        "message": cause,
        "checks": [check],
        "clients": [],
        "request": "POST http://127.0.0.1:8000/v1/responses",
        "status": 200,
    }


def _data(**extra: Any) -> dict[str, Any]:
    shared = _deviation("responses.echo", "drops metadata", "test_responses.py::test_echo")
    stream_id = "test_responses_stream.py::test_done"
    main = _report([("test_responses.py::test_echo", "failed")], [shared])
    group = _report(
        [
            ("test_responses.py::test_echo", "failed"),
            ("test_responses.py::test_shape", "passed"),
            (stream_id, "failed"),
            ("test_responses_store.py::test_retrieve", "skipped"),
        ],
        [shared, _deviation("responses.stream.done", "no [DONE] after the end", stream_id)],
    )
    return {
        "date": "2026-01-01",
        "preset": "extended",
        "machine": {"cores": 2, "cpu_model": "cpu"},
        "model": {"path_name": "m.gguf", "model_id": "m"},
        "peers": {
            "ours": {**_report([("test_responses.py::test_echo", "passed")], []), **extra},
            "proxy": {**main, _profiles.OPENRESPONSES: group, "notes": ["A proxy in front."]},
        },
    }


def test_openresponses_group_has_a_row_per_module_and_its_own_verdict() -> None:
    data = _data()
    data[_profiles.OPENRESPONSES] = {"run": True, "reason": ""}
    text = _compat_render.render(data, source="compat.json")
    section = text.split("## Open Responses profile", 1)[1].split("## Deviations", 1)[0]
    assert "| module | ours | proxy |" in section
    # A peer without the group's results shows it in every cell, never as a pass.
    assert "| responses | – | ❌ 1 / 1 / 0 |" in section
    assert "| responses_stream | – | ❌ 0 / 1 / 0 |" in section
    assert "| responses_store | – | ⏭ 0 / 0 / 1 |" in section
    assert "| checks passing | not run | 1/4 (25.0%) |" in section
    assert "| **rules holding (weighted)** | not run | **50.0%** |" in section


def test_openresponses_deviations_list_only_what_the_main_run_did_not_show() -> None:
    data = _data()
    data[_profiles.OPENRESPONSES] = {"run": True, "reason": ""}
    proxy = _compat_render.render(data, source="compat.json").split("### proxy", 1)[1]
    extra = proxy.split("Under `--profile openresponses`, besides the above:", 1)[1]
    assert "no [DONE] after the end" in extra and "drops metadata" not in extra
    assert proxy.index("A proxy in front.") < proxy.index("drops metadata")


def test_openresponses_group_not_run_says_why_and_old_results_omit_it() -> None:
    data = _data()
    data[_profiles.OPENRESPONSES] = {"run": False, "reason": "the suite has no such profile"}
    text = _compat_render.render(data, source="compat.json")
    assert "## Open Responses profile" in text
    assert "Not run: the suite has no such profile." in text
    assert "| module |" not in text

    old = _data()  # results from before the group existed: no key at all
    assert "Open Responses profile" not in _compat_render.render(old, source="compat.json")


def test_results_from_before_the_group_still_render(tmp_path: Path) -> None:
    saved = sorted((ROOT / "benchmarks" / "results").glob("compat-*.json"))[0]
    doc = tmp_path / "compatibility.md"
    assert compat.main(["--from", str(saved), "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "| **rules holding (weighted)** |" in text and "Open Responses profile" not in text
    assert text.count("| area |") == 1


def test_only_a_run_of_every_peer_writes_the_published_document() -> None:
    assert compat.default_doc(list(_peers.COMPAT_PEER_NAMES)) == compat.DOC
    assert compat.default_doc(["ours", "litellm"]) is None
    assert compat.default_doc(list(_peers.PEER_NAMES)) is None  # the proxy is a peer too


def test_openresponses_runs_once_the_suite_has_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    from compliance import _options

    monkeypatch.setattr(_options, "PROFILES", ("openai", "strict"))
    assert "--profile openresponses" in _profiles.openresponses_missing()
    monkeypatch.setattr(_options, "PROFILES", ("openai", "strict", "openresponses"))
    assert _profiles.openresponses_missing() == ""
    modules = _profiles.responses_modules()
    assert "compliance/test_responses.py" in modules
    assert "compliance/test_chat.py" not in modules
    assert all((ROOT / m).is_file() for m in modules)


def test_litellm_routes_the_model_to_the_upstream_without_cooldowns() -> None:
    launch = _peers.Launch(Path("m.gguf"), "m", 512, 1, 9000, upstream="http://127.0.0.1:1/v1")
    config = _litellm.config(launch)
    (deployment,) = config["model_list"]
    assert deployment["model_name"] == "m"
    assert deployment["litellm_params"]["model"] == "openai/m"
    assert deployment["litellm_params"]["api_base"] == "http://127.0.0.1:1/v1"
    assert config["router_settings"] == {"disable_cooldowns": True}
    assert config["general_settings"]["dangerously_permit_weak_or_unset_master_key"] is True
    assert "disable_cooldowns" in _litellm.NOTE  # the document says so too
    assert json.loads(json.dumps(config)) == config  # written as JSON, read as YAML


def test_litellm_version_comes_from_the_lock(tmp_path: Path) -> None:
    assert _litellm.locked_version() == _litellm.locked_version(ROOT / "lock" / "constraints.txt")
    lock = tmp_path / "constraints.txt"
    lock.write_text("litellm-enterprise==0.1\nlitellm==1.2.3\n    # via x\n", encoding="utf-8")
    assert _litellm.locked_version(lock) == "1.2.3"
    lock.write_text("openai==1.0\n", encoding="utf-8")
    with pytest.raises(_peers.PeerUnavailable):
        _litellm.locked_version(lock)


def _http_server(launch: _peers.Launch, role: str) -> list[str]:
    return [sys.executable, "-m", "http.server", str(launch.port), "--bind", "127.0.0.1"]


def test_a_proxy_starts_after_its_upstream_and_both_stop(tmp_path: Path) -> None:
    seen: list[str] = []

    def proxy(launch: _peers.Launch, role: str) -> list[str]:
        seen.append(launch.upstream)
        return _http_server(launch, role)

    upstream = _peers.Peer("up", {}, _http_server)
    peer = _peers.Peer("proxy", {}, proxy, upstream=upstream, ready=("GET", "/", None))
    launch = _peers.Launch(tmp_path / "m.gguf", "m", 512, 1, compat.pick_port())
    with serve(peer, launch, "all", ("GET", "/", None)) as server:
        assert server.port == launch.port
        (behind,) = seen
        assert behind.startswith("http://127.0.0.1:") and behind.endswith("/v1")
        assert behind != f"{server.base_url}/v1"
        assert httpx.get(behind.removesuffix("/v1") + "/", timeout=5).status_code == 200
    for url in (server.base_url, behind.removesuffix("/v1")):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/", timeout=5)


def test_the_random_port_goes_from_every_kind_of_url() -> None:
    shown = _compat_render.sanitise(
        [
            "WS ws://127.0.0.1:4292/v1/responses",
            "GET http://127.0.0.1:4292/v1/models",
            "127.0.0.1:42923/v1",
        ],
        "http://127.0.0.1:4292",
    )
    assert shown[:2] == [
        "WS ws://127.0.0.1:8000/v1/responses",
        "GET http://127.0.0.1:8000/v1/models",
    ]
    assert shown[2] == "127.0.0.1:42923/v1"  # a port that merely starts the same is another
