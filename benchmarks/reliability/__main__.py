"""`python -m benchmarks.reliability`: reliability of the reference server and the harness,
measured on this machine.

    python -m benchmarks.reliability [--quick] [--only fuzz,soak,...] [--seed N]
                                     [--merge EARLIER.json] [--out FILE] [--doc FILE]

Sections: fuzz (schemathesis volume), soak (at the sweep profile's knee), storm (clients that
vanish), overload (a burst of 10× the queue), engine faults, hostile servers (the suite against
servers that attack their client), bad configuration (serve launched with bad flags and
--config files), embeddings beside streams (a stream's ITL beside large embedding requests).
Each section that needs a reference server starts its own on the tiny model. Writes
benchmarks/results/*-reliability.json and, for a run of every section, docs/reliability.md.
`--quick` is a rough check of the whole chain in a few minutes. `--merge` refreshes some
sections of an earlier run: the sections not run now are taken from that run's results, and the
doc says which came from where and when.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import _machine
from . import (
    _bad_config,
    _embed_beside,
    _engine_faults,
    _fuzz,
    _hostile,
    _overload,
    _render,
    _server,
    _soak,
    _storm,
)
from ._plan import QUICK, Plan

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "reliability.md"
SECTIONS = (
    "fuzz",
    "soak",
    "storm",
    "overload",
    "engine faults",
    "hostile servers",
    "bad configuration",
    "embeddings beside streams",
)
VERSIONS = ("llama_cpp_python", "sanic", "httpx", "schemathesis", "hypothesis", "locust")


def log(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reliability", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small volumes: a rough check")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})",
    )
    parser.add_argument("--seed", type=int, help="seed of the fuzz and storm runs (reproduce one)")
    parser.add_argument("--out", type=Path, help="results JSON (default: benchmarks/results/)")
    parser.add_argument(
        "--doc", type=Path, help="Markdown file to write (default: docs/reliability.md, full runs)"
    )
    parser.add_argument(
        "--merge",
        type=Path,
        help="an earlier results JSON: the sections not run now are taken from it",
    )
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    given = list(argv if argv is not None else sys.argv[1:])
    args = parse_args(given)
    plan: Plan = QUICK if args.quick else Plan()
    seed = args.seed if args.seed is not None else _fuzz.new_seed()
    print(f"seed: {seed} (rerun with --seed {seed})", flush=True)
    began = time.time()
    machine = _machine.describe()
    sections: dict[str, Any] = {}
    on_server: dict[str, Callable[[Any], Any]] = {
        "fuzz": lambda s: _fuzz.run(s.base_url, plan.fuzz_cases, seed, log),
        "soak": lambda s: _soak_section(s, plan),
        "storm": lambda s: _storm.run(s.base_url, plan, seed, log),
        "overload": lambda s: _overload.run(s.base_url, plan, seed, log),
        "embeddings beside streams": lambda s: _embed_beside.run(s.base_url, plan, log),
    }
    on_their_own: dict[str, Callable[[], Any]] = {
        "engine faults": lambda: _engine_faults.run(plan, log),
        "hostile servers": lambda: _hostile.run(plan, log),
        "bad configuration": lambda: _bad_config.run(plan, seed, log),
    }
    for name in args.sections:
        log(f"{name}: start")
        if name in on_server:
            with _server.server(plan.max_queue) as server:  # a fresh server per section
                sections[name] = on_server[name](server)
        else:
            sections[name] = on_their_own[name]()
        log(f"{name}: done")
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine["load_average_at_end"] = [round(x, 2) for x in load_end] if load_end else None
    result = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%d", time.localtime(began)),
        "command": shlex.join(["python", "-m", "benchmarks.reliability", *given]),
        "seed": seed,
        "machine": machine,
        "versions": _versions(),
        "plan": plan.to_dict() | {"quick": args.quick},
        "sections": sections,
        "duration_s": round(time.time() - began, 1),
    }
    if args.merge:
        result = merged(result, json.loads(args.merge.read_text(encoding="utf-8")), args.merge)
    suffix = "-quick" if args.quick else ""
    out = args.out or RESULTS / f"{result['date']}-{_machine.slug()}-reliability{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"results: {out}")
    text = _render.markdown(result)
    print(text)
    complete = set(result["sections"]) >= set(SECTIONS)
    doc = args.doc or (DOC if complete and not args.quick else None)
    if doc:
        doc.write_text(text, encoding="utf-8")
        log(f"wrote {doc}")
    failed = [name for name, _, ok in _render.criteria(result) if ok is False]
    for name in failed:
        log(f"does not hold: {name}")
    return 1 if failed else 0


def merged(result: dict[str, Any], earlier: dict[str, Any], source: Path) -> dict[str, Any]:
    """`result` with every section it lacks taken from `earlier`, each such section recorded
    under "carried_over" with the run it came from (the doc names them)."""
    carried = [name for name in earlier.get("sections", {}) if name not in result["sections"]]
    return result | {
        "sections": {name: earlier["sections"][name] for name in carried} | result["sections"],
        "carried_over": {
            "sections": carried,
            "from": source.name,
            "date": earlier.get("date"),
            "command": earlier.get("command"),
            "versions": earlier.get("versions"),
        }
        if carried
        else None,
    }


def _soak_section(server: Any, plan: Plan) -> dict[str, Any]:
    knee = _soak.find_knee(server.base_url, plan, log)
    log(f"knee: {knee['knee_users']} users")
    if not knee["knee_users"]:
        return {"knee": knee}
    result = _soak.soak(server.base_url, server.pid, knee["knee_users"], plan, log)
    return result | {"knee": knee}


def _versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in VERSIONS:
        try:
            found[name.replace("_", "-")] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
    return found


if __name__ == "__main__":
    raise SystemExit(main())
