"""`python -m benchmarks.compat`: run the compliance suite against every peer and write
docs/compatibility.md from the reports.

    python -m benchmarks.compat [--peers ...] [--preset extended] [--doc FILE] [--from FILE]

Each peer is run twice on one server process: the whole suite under the `openai` profile, then
the responses area under the `openresponses` profile (where the suite has that profile). With
--from, only re-render the Markdown from a saved compat JSON (no server is started). A run of
some of the peers writes docs/compatibility.md only when --doc names it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _machine, _model, _peers, _profiles
from ._compat_render import render, sanitise
from ._model import ModelInfo
from ._runner import probe
from ._server import ServerStartError, pick_port, serve

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "compatibility.md"
SUITE_TIMEOUT_S = 900
RESPONSE_EXCERPT = 400

Log = Callable[[str], None]


def run_suite(
    peer: _peers.Peer,
    model: ModelInfo,
    n_ctx: int,
    threads: int,
    preset: str,
    log: Log,
    no_repack: bool = False,
    parallel: int = _peers.DEFAULT_PARALLEL,
    openresponses: bool = False,
) -> dict[str, Any]:
    """The peer's trimmed report; with `openresponses`, the profile's run under that key."""
    port = pick_port()
    launch = _peers.Launch(model.path, model.model_id, n_ctx, threads, port, no_repack, parallel)
    started = time.monotonic()
    try:
        # "all": one process serving everything it can (llama-server: no embeddings then).
        with serve(peer, launch, "all", probe(model.model_id, "gen")) as server:
            # The real clients too (from `make clients-env`; skipped with the reason without).
            report = _suite(["compliance", "--clients"], server.base_url, model, preset, "openai")
            log(f"  {peer.name}: {_outcome(report)} in {time.monotonic() - started:.0f} s")
            if openresponses:
                started = time.monotonic()
                targets = _profiles.responses_modules()
                group = _suite(targets, server.base_url, model, preset, _profiles.OPENRESPONSES)
                took = time.monotonic() - started
                log(f"  {peer.name} ({_profiles.OPENRESPONSES}): {_outcome(group)} in {took:.0f} s")
                report[_profiles.OPENRESPONSES] = group
    except ServerStartError as exc:
        return {"error": f"did not start: {str(exc)[:300]}"}
    return report


def _suite(
    targets: list[str], base_url: str, model: ModelInfo, preset: str, profile: str
) -> dict[str, Any]:
    """One pytest run of the suite against `base_url`: its trimmed report, or why there is none."""
    with tempfile.TemporaryDirectory(prefix="inferno-compat-") as folder:
        command = [
            sys.executable,
            "-m",
            "pytest",
            *targets,
            "--base-url",
            f"{base_url}/v1",
            "--model",
            model.model_id,
            "--preset",
            preset,
            # Explicit: an INFERNO_PROFILE in the environment must not change the run.
            "--profile",
            profile,
            "--report",
            folder,
            "-p",
            "no:cacheprovider",
            "-q",
        ]
        try:
            subprocess.run(
                command,
                cwd=ROOT,
                capture_output=True,
                timeout=SUITE_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"the suite did not finish in {SUITE_TIMEOUT_S} s"}
        report_file = Path(folder) / "report.json"
        if not report_file.is_file():
            return {"error": "the suite wrote no report.json"}
        report = json.loads(report_file.read_text(encoding="utf-8"))
    return _trim(report, base_url)


def _outcome(report: dict[str, Any]) -> str:
    return report.get("error") or f"score {report.get('score')}%"


def _trim(report: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Keep what the document needs, with the port and local paths made generic."""
    results = []
    for item in report.get("results", []):
        entry: dict[str, Any] = {
            "test_id": item["test_id"],
            "area": item["area"],
            "outcome": item["outcome"],
        }
        if item["outcome"] != "passed":
            found = item.get("details") or {}
            details = {k: found.get(k) for k in ("rule", "message", "request", "request_body")}
            details["status"] = found.get("status")
            details["response"] = (found.get("response") or "")[:RESPONSE_EXCERPT]
            reason = (item.get("reason") or "").strip().splitlines()
            entry["reason"] = reason[0][:300] if reason else ""
            entry["details"] = details
        results.append(entry)
    server = report.get("server", {})
    deviations = [
        {**d, "request": (d.get("request") or ""), "reproduce": (d.get("reproduce") or "")[:600]}
        for d in report.get("deviations", [])
    ]
    trimmed = {
        "score": report.get("score"),
        "summary": report.get("summary", {}),
        "deviations": deviations,
        "matrix": report.get("matrix", {}),
        "duration_s": report.get("duration_s"),
        "server_header": server.get("server_header"),
        "settings": {k: report.get("settings", {}).get(k) for k in ("preset", "profile")},
        "results": results,
    }
    return sanitise(trimmed, base_url)


def run_and_render(
    peers: list[_peers.Peer],
    model: ModelInfo,
    n_ctx: int,
    threads: int,
    log: Log,
    *,
    skipped: dict[str, str] | None = None,
    preset: str = "extended",
    out: Path | None = None,
    doc: Path | None = DOC,
    no_repack: bool = False,
    parallel: int = _peers.DEFAULT_PARALLEL,
) -> Path:
    """Run every peer, write the compat JSON to `out` and, unless `doc` is None, the Markdown."""
    log(f"compliance suite (preset {preset}) against {', '.join(p.name for p in peers)}")
    not_run = _profiles.openresponses_missing()
    if not_run:
        log(f"the {_profiles.OPENRESPONSES} group is not run: {not_run}")
    data: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine.describe(),
        "model": model.to_dict(),
        "n_ctx": n_ctx,
        "threads": threads,
        "parallel": parallel,
        "preset": preset,
        "peers": {},
        "skipped": dict(skipped or {}),
        _profiles.OPENRESPONSES: {"run": not not_run, "reason": not_run or ""},
    }
    for peer in peers:
        report = run_suite(
            peer, model, n_ctx, threads, preset, log, no_repack, parallel, not not_run
        )
        report["versions"] = peer.versions
        if peer.notes:
            report["notes"] = peer.notes
        data["peers"][peer.name] = report
    out = out or RESULTS / f"compat-{data['date']}-{_machine.slug()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if doc is None:
        log(f"compat results: {out}; no Markdown written")
        return out
    doc.write_text(render(data, source=out.name), encoding="utf-8")
    log(f"compat results: {out}; wrote {doc}")
    return out


def prepare(names: list[str], log: Log) -> tuple[list[_peers.Peer], dict[str, str]]:
    """The peers that could be prepared, and the reason for each one that could not."""
    peers, skipped = [], {}
    for name in names:
        try:
            peers.append(_peers.prepare(name, log=log))
        except _peers.PeerUnavailable as exc:
            log(f"SKIPPING {name}: {exc}")
            skipped[name] = str(exc)
    return peers, skipped


def default_doc(names: list[str]) -> Path | None:
    """docs/compatibility.md when the run covers every peer; None (no Markdown) otherwise, so
    a run of a few peers never replaces the published comparison unless told to."""
    return DOC if set(_peers.COMPAT_PEER_NAMES) <= set(names) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compat")
    parser.add_argument("--model", default="tiny", help="tiny or a GGUF path with a chat template")
    parser.add_argument("--peers", default=",".join(_peers.COMPAT_PEER_NAMES))
    parser.add_argument("--preset", default="extended", choices=("core", "extended", "full"))
    parser.add_argument("--from", dest="source", type=Path, help="re-render from a compat JSON")
    parser.add_argument("--out", type=Path, help="compat JSON (default: benchmarks/results/)")
    parser.add_argument(
        "--doc",
        type=Path,
        help="Markdown to write (default: docs/compatibility.md when every peer runs, else none)",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[compat {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if args.source:
        doc = args.doc or DOC
        data = json.loads(args.source.read_text(encoding="utf-8"))
        doc.write_text(render(data, source=args.source.name), encoding="utf-8")
        log(f"wrote {doc}")
        return 0
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    doc, out = args.doc or default_doc(names), args.out
    if default_doc(names) is None:
        if doc is None:
            log(f"not every peer runs: {DOC.relative_to(ROOT)} is left as it is (--doc: write one)")
        # Nor does it replace the day's results of a whole run.
        stem = f"compat-{time.strftime('%Y-%m-%d')}-{_machine.slug()}-{'-'.join(names)}"
        out = out or RESULTS / f"{stem}.json"
    info = _model.inspect(_model.resolve(args.model))
    threads = _model.default_threads(info, os.cpu_count() or 1)
    peers, skipped = prepare(names, log)
    if not peers:
        return 1
    n_ctx = _model.default_n_ctx(info)
    run_and_render(
        peers,
        info,
        n_ctx,
        threads,
        log,
        skipped=skipped,
        preset=args.preset,
        out=out,
        doc=doc,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
