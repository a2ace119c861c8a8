"""The load driver: a process of its own, so the client never shares an interpreter (or its
GIL) with the orchestrator. Prints one JSON object of metrics on stdout.

    python -m benchmarks._driver --base-url URL --model-id ID --role gen|embed \
        --plan JSON --prompts JSON [--chat]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._plan import Plan
from ._workloads import Target, run_role

ROOT = Path(__file__).resolve().parent.parent
# The driver itself must end: a generous multiple of everything the plan can take.
DRIVER_SLACK_S = 300.0


def drive(
    base_url: str,
    model_id: str,
    role: str,
    plan: Plan,
    prompts: list[str],
    chat: bool,
) -> dict[str, Any]:
    """Run the driver as a subprocess and return its metrics (or an error record)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks._driver",
        "--base-url",
        base_url,
        "--model-id",
        model_id,
        "--role",
        role,
        "--plan",
        json.dumps(plan.to_dict()),
        "--prompts",
        json.dumps(prompts),
    ]
    if chat:
        command.append("--chat")
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=budget_s(plan),
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return {"driver_error": f"driver timed out after {budget_s(plan):.0f} s"}
    if done.returncode != 0:
        return {"driver_error": (done.stderr or done.stdout)[-1000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def budget_s(plan: Plan) -> float:
    loops = (
        plan.overhead_s + len(plan.levels) * plan.level_s + len(plan.embed_batches) * (plan.embed_s)
    )
    # Each timed loop may overrun by one request; sequential requests are bounded by count.
    requests = plan.one_token_requests + plan.single_repeats + plan.warmup_requests
    overrun = (len(plan.levels) + len(plan.embed_batches) + 1) * plan.request_timeout_s
    return loops + overrun + min(requests * plan.request_timeout_s, 600.0) + DRIVER_SLACK_S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._driver")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--role", choices=("gen", "embed"), default="gen")
    parser.add_argument("--plan", default="{}")
    parser.add_argument("--prompts", default="[]")
    parser.add_argument("--chat", action="store_true")
    args = parser.parse_args(argv)
    target = Target(
        args.base_url,
        args.model_id,
        Plan.from_dict(json.loads(args.plan)),
        json.loads(args.prompts),
    )
    metrics = asyncio.run(run_role(target, args.role, args.chat))
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
