"""`python -m benchmarks`: the reference server side by side with llama-cpp-python's server and
llama.cpp's llama-server, on the same GGUF, context size and thread count.

    python -m benchmarks [--model tiny|gemma3-270m|PATH] [--runs 3] [--quick]
                         [--peers ours,llama-cpp-python,llama-server] [--out FILE]

Peers are installed (llama-cpp-python's server extra) or built (llama-server, cached outside
the repository) by this command, never by the test suite. Writes benchmarks/results/*.json and
the table for the model in docs/performance.md; then runs the compliance suite against every
peer (and LiteLLM's proxy, when every server is measured) and writes docs/compatibility.md if
every peer ran (skip with --no-compat).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from . import _library, _machine, _model, _peers, _report, _runner, compat
from ._plan import QUICK, SMOKE, Plan

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default="tiny", help="tiny | gemma3-270m | a GGUF path")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs, >= 3 (default 3)")
    parser.add_argument("--quick", action="store_true", help="short workloads (a rough check)")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--peers",
        default=",".join(_peers.PEER_NAMES),
        help="comma-separated; `ours:FLAGS` adds the reference server with more serve flags "
        "(e.g. ours,ours:--batch-invariant,llama-server)",
    )
    parser.add_argument("--threads", type=int, help="threads for every peer (default: as ours)")
    parser.add_argument("--n-ctx", type=int, help="context size for every peer (default: 2048)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=_peers.DEFAULT_PARALLEL,
        help="sequences decoded together, for every batching peer (default: "
        f"{_peers.DEFAULT_PARALLEL})",
    )
    parser.add_argument(
        "--n-batch",
        type=int,
        default=_peers.DEFAULT_N_BATCH,
        help=f"tokens per decode step, for every batching peer (default: {_peers.DEFAULT_N_BATCH})",
    )
    parser.add_argument("--out", type=Path, help="results JSON (default: benchmarks/results/)")
    parser.add_argument("--doc", default=str(DOC), help="Markdown file to update ('' = none)")
    parser.add_argument("--no-compat", action="store_true", help="skip the compliance runs")
    parser.add_argument("--render", type=Path, help="only rewrite --doc from a results JSON")
    parser.add_argument(
        "--no-repack",
        action="store_true",
        help="turn off llama.cpp weight repacking in every peer (automatic if the model crashes)",
    )
    args = parser.parse_args(argv)
    if args.runs < 3 and not (args.quick or args.smoke):
        parser.error("--runs must be at least 3 (one noisy run must not decide); or use --quick")
    args.runs = max(1, args.runs)
    return args


def main(argv: list[str] | None = None) -> int:
    given = list(argv if argv is not None else sys.argv[1:])
    args = parse_args(given)
    if args.render:
        result = json.loads(args.render.read_text(encoding="utf-8"))
        _report.update_doc(Path(args.doc), result["model"]["model_id"], _report.markdown(result))
        log(f"updated {args.doc} from {args.render}")
        return 0
    began = time.time()
    plan: Plan = SMOKE if args.smoke else QUICK if args.quick else Plan()
    path = _model.resolve(args.model)
    info = _model.inspect(path)
    threads = args.threads or _model.default_threads(info, os.cpu_count() or 1)
    n_ctx = args.n_ctx or _model.default_n_ctx(info)
    size = "smoke" if args.smoke else "quick" if args.quick else "default"
    log(f"model {path.name}: n_ctx {n_ctx}, {threads} thread(s), {size} plan")

    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    peers, skipped = compat.prepare(names, log)
    if not peers:
        log("no peer could be prepared; nothing to measure")
        return 1

    no_repack = args.no_repack
    try:
        prompts = _screen(path, n_ctx, threads, plan, no_repack)
    except _library.LibraryCrash as exc:
        if no_repack:
            raise
        # Seen with Gemma 3 Q4_K_M on AVX-512/AMX CPUs: the repacked kernels crash in decode.
        log(f"llama.cpp crashed on this model ({exc}); measuring every peer with --no-repack")
        no_repack = True
        prompts = _screen(path, n_ctx, threads, plan, no_repack)
    roles = ("gen", "embed") if info.has_pooling else ("gen",)
    if not info.has_pooling:
        log("the model declares no pooling type: embeddings are not measured")
    setup = _runner.Setup(
        info, n_ctx, threads, plan, prompts, roles, no_repack, args.parallel, args.n_batch
    )
    runs = _runner.run_all(peers, setup, args.runs, log)

    result = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%d", time.localtime(began)),
        "command": " ".join(
            ["python -m benchmarks", shlex.join(given)] if given else ["python -m benchmarks"]
        ),
        "machine": _machine.describe(),
        "model": info.to_dict(),
        "n_ctx": n_ctx,
        "threads": threads,
        "parallel": args.parallel,
        "n_batch": args.n_batch,
        "no_repack": no_repack,
        "plan": plan.to_dict(),
        "one_token_kind": "chat" if info.has_chat_template else "completion",
        "prompts": setup.prompts,
        "peers": {
            p.name: {
                "versions": p.versions,
                "command": _peers.portable(p.command(_launch(setup), "gen")),
            }
            for p in peers
        },
        "skipped": skipped,
        "runs": runs,
        **_report.summarise(runs),
    }
    result["duration_s"] = round(time.time() - began, 1)
    out = args.out or RESULTS / f"{result['date']}-{_machine.slug()}-{info.model_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"results: {out}")
    table = _report.markdown(result)
    print(table)
    if args.doc:
        _report.update_doc(Path(args.doc), info.model_id, table)
        log(f"updated {args.doc}")
    if not args.no_compat and not args.smoke:
        if info.has_chat_template:
            proxies, unavailable = [], {}
            if set(_peers.PEER_NAMES) <= set(names):
                # The proxies are compliance peers only: they join a bench of every server.
                proxies, unavailable = compat.prepare(list(_peers.PROXY_NAMES), log)
                names += _peers.PROXY_NAMES
            compat.run_and_render(
                peers + proxies,
                info,
                n_ctx,
                threads,
                log,
                skipped=skipped | unavailable,
                doc=compat.default_doc(names),
                no_repack=no_repack,
                parallel=args.parallel,
            )
        else:
            log("compat skipped: the model has no chat template (the suite needs chat)")
    log(f"done in {(time.time() - began) / 60:.1f} min")
    return 0


def _screen(path: Path, n_ctx: int, threads: int, plan: Plan, no_repack: bool) -> list[str]:
    screened = _library.run(
        "screen",
        str(path),
        n_ctx,
        threads,
        no_repack=no_repack,
        single_tokens=plan.single_tokens,
        level_tokens=plan.level_tokens,
    )
    return list(screened["prompts"])


def _launch(setup: _runner.Setup) -> _peers.Launch:
    # The recorded command line shows the real flags with a placeholder port.
    model = setup.model
    return _peers.Launch(
        model.path,
        model.model_id,
        setup.n_ctx,
        setup.threads,
        0,
        setup.no_repack,
        setup.parallel,
        setup.n_batch,
    )


if __name__ == "__main__":
    raise SystemExit(main())
