"""How exact are the load profiles? Run them against a server whose latencies are known.

    python -m benchmarks.calibration                  # 30 s per scenario, about 2.5 minutes
    python -m benchmarks.calibration --duration 60 --rounds 2

The mock (``tests/loadtests/sse_fixture.py``, loopback, deterministic) streams 32 tokens: the
first 500 ms after the request, then one every 50 ms. Our profiles run closed loop at 1 and 8
users (8 also with ``--stop-timeout``, which drains the streams in flight at the end) and open
loop at a Poisson rate; each metric is printed against the truth, which is what the mock really
did: the delays it slept (a loaded machine oversleeps) and the tokens it sent inside the load
window. When GuideLLM or AIPerf are on the PATH they run the closed-loop scenarios on the same
mock (``calibration_peers.py``) and are printed beside ours, each with its client CPU time.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.calibration_peers import PEERS
from tests.loadtests.sse_fixture import FixtureServer

ROOT = Path(__file__).resolve().parents[1]
FIRST_TOKEN_S = 0.5
ITL_S = 0.05
TOKENS = 32
MODEL = "fixture"


@dataclass(frozen=True)
class Scenario:
    label: str
    users: int = 0  # closed loop: concurrency
    rate: float = 0.0  # open loop: Poisson requests/s
    extra: tuple[str, ...] = ()


@dataclass
class Truth:
    ttft_ms: float
    itl_ms: float
    tokens_per_s: float
    requests_per_s: float = 0.0

    @property
    def e2e_ms(self) -> float:
        return self.ttft_ms + (TOKENS - 1) * self.itl_ms

    def as_metrics(self) -> dict[str, float]:
        return {
            "TTFT ms (mean)": self.ttft_ms,
            "ITL ms (mean)": self.itl_ms,
            "TPOT ms (mean)": self.itl_ms,  # every request's mean gap is the mock's ITL
            "E2E ms (mean)": self.e2e_ms,
            "output tok/s": self.tokens_per_s,
            "requests/s": self.requests_per_s,
        }


@dataclass
class Measured:
    tool: str
    scenario: str
    metrics: dict[str, float]
    truth: Truth
    cpu_s: float
    notes: list[str] = field(default_factory=list)


def scenarios(rate: float) -> list[Scenario]:
    return [
        Scenario("closed, 1 user", users=1),
        Scenario("closed, 8 users", users=8),
        Scenario("closed, 8 users, --stop-timeout 10", users=8, extra=("--stop-timeout", "10")),
        Scenario(f"open, Poisson {rate:g}/s", rate=rate),
    ]


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def marks(server: FixtureServer) -> tuple[int, int, int]:
    """Where this run's delay samples and request spans will start in the mock's records."""
    return len(server.truth.get("ttft", [])), len(server.truth.get("itl", [])), len(server.spans)


def truth_of(
    server: FixtureServer,
    since: tuple[int, int, int],
    window: tuple[float, float] | None,
    users: int,
) -> Truth:
    """What the mock really did since ``since``: the delays it slept, and the requests it served
    in ``window`` (wall-clock seconds), each spread evenly over its span (received to last token
    sent; one cut off counts its share of the mean E2E), as our profiles count them. Without a
    window: ``users`` closed-loop streams' worth."""
    ttft = server.truth.get("ttft", [])[since[0] :]
    itl = server.truth.get("itl", [])[since[1] :]
    truth = Truth(
        ttft_ms=statistics.fmean(ttft) if ttft else float("nan"),
        itl_ms=statistics.fmean(itl) if itl else float("nan"),
        tokens_per_s=0.0,
    )
    if window is None:
        truth.requests_per_s = users * 1000.0 / truth.e2e_ms
    else:
        start, end = window
        spans = server.spans[since[2] :]
        served = sum(span_share(span, start, end, truth.e2e_ms / 1000.0) for span in spans)
        truth.requests_per_s = served / max(end - start, 1e-9)
    truth.tokens_per_s = truth.requests_per_s * TOKENS
    return truth


def span_share(span: list[float | None], start: float, end: float, mean_e2e_s: float) -> float:
    """The share of one request's span inside [start, end]."""
    sent, done = span
    assert sent is not None
    if done is None:  # cut off by the end of the load
        return max(0.0, min(1.0, (end - max(sent, start)) / mean_e2e_s)) if sent < end else 0.0
    inside = min(done, end) - max(sent, start)
    return max(0.0, inside) / max(done - sent, 1e-9)


def run_ours(
    server: FixtureServer, scenario: Scenario, duration: float, prompts: Path, out: Path
) -> Measured:
    summary_path = out / "summary.json"
    summary_path.unlink(missing_ok=True)
    load = ["-u", str(scenario.users), "-r", str(scenario.users)]
    if scenario.rate:
        load = ["--arrival", "poisson", "--rate", f"{scenario.rate:g}"]
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests"), "StreamingChatUser",
        "--headless", "--only-summary", "--host", server.base_url, "-t", f"{duration:g}",
        "--prompts", str(prompts), "--max-tokens", str(TOKENS), "--seed", "1",
        "--summary", str(summary_path), *load, *scenario.extra,
    ]  # fmt: skip
    before_cpu = child_cpu_s()
    since = marks(server)
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=duration + 120, check=False
    )
    cpu = child_cpu_s() - before_cpu
    if not summary_path.exists():
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"locust exited {proc.returncode} without a summary:\n{tail}")
    summary = json.loads(summary_path.read_text())
    start = summary["started_at"]
    truth = truth_of(server, since, (start, start + summary["duration_s"]), scenario.users)
    m, thr = summary["metrics"], summary["throughput"]
    metrics = {
        "TTFT ms (mean)": m["ttft_ms"].get("mean", float("nan")),
        "ITL ms (mean)": m["itl_ms"].get("mean", float("nan")),
        "TPOT ms (mean)": m["tpot_ms"].get("mean", float("nan")),
        "E2E ms (mean)": m["e2e_ms"].get("mean", float("nan")),
        "output tok/s": thr["output_tokens_per_s"],
        "requests/s": thr["requests_per_s"],
    }
    window = summary.get("window", {})
    notes = [
        f"{summary['requests']['ok']} requests, {window.get('cut_off_at_end', 0)} cut off and "
        f"{window.get('drained_after_end', 0)} drained at the end"
    ]
    if scenario.users:  # the textbook figure, which ignores the client's gaps and the start
        steady = scenario.users * TOKENS * 1000.0 / truth.e2e_ms
        error = metrics["output tok/s"] / steady - 1.0
        notes.append(f"steady state users x tokens / E2E: {steady:.2f} tok/s, ours {error:+.2%}")
    return Measured("inferno", scenario.label, metrics, truth, cpu, notes)


def format_rows(results: list[Measured]) -> str:
    lines = [
        f"{'tool':<10}{'scenario':<38}{'metric':<16}{'truth':>10}{'measured':>10}{'error':>9}",
    ]
    for r in results:
        truth = r.truth.as_metrics()
        for name, value in r.metrics.items():
            expected = truth[name]
            error = (value - expected) / expected if expected else float("nan")
            lines.append(
                f"{r.tool:<10}{r.scenario:<38}{name:<16}{expected:>10.2f}{value:>10.2f}"
                f"{error:>+9.2%}"
            )
        lines.append(f"{r.tool:<10}{r.scenario:<38}{'client CPU s':<16}{'':>10}{r.cpu_s:>10.2f}")
        lines += [f"{'':<10}  ({note})" for note in r.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every scenario this often")
    parser.add_argument("--rate", type=float, default=2.0, help="open loop: Poisson requests/s")
    parser.add_argument(
        "--tokenizer",
        default="",
        help="AIPerf only: a Hugging Face tokenizer folder (default: one written for the mock)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10 or not 5 <= args.duration <= 600:
        parser.error("--rounds 1..10 and --duration 5..600")
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="inferno-calibration-") as folder:
        out = Path(folder)
        prompts = out / "prompts.jsonl"
        prompts.write_text(json.dumps({"prompt": "delay", "max_tokens": TOKENS}) + "\n")
        with FixtureServer(FIRST_TOKEN_S, ITL_S, TOKENS) as server:
            server.handle_error = lambda *_: None  # type: ignore[method-assign]  # cut-off streams
            print(
                f"mock {server.base_url}: {TOKENS} tokens, first after {FIRST_TOKEN_S * 1000:g} "
                f"ms, then every {ITL_S * 1000:g} ms",
                flush=True,
            )
            for _ in range(args.rounds):
                for scenario in scenarios(args.rate):
                    results.append(run_ours(server, scenario, args.duration, prompts, out))
                    print(format_rows(results[-1:]), flush=True)
                    if not scenario.users or scenario.extra:
                        continue  # the peers run the plain closed-loop scenarios
                    for peer in PEERS:
                        since = marks(server)
                        found = peer.run(server.base_url, scenario.users, args.duration, out,
                                         args.tokenizer)  # fmt: skip
                        if found is not None:
                            truth = truth_of(server, since, None, scenario.users)
                            results.append(Measured(peer.name, scenario.label, found.metrics,
                                                    truth, found.cpu_s, found.notes))  # fmt: skip
                            print(format_rows(results[-1:]), flush=True)
            missing = [peer.name for peer in PEERS if not peer.available()]
    print("\n" + format_rows(results))
    if missing:
        print(f"not on the PATH, so not compared: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
