"""`make demo`: the reference server on the tiny model, driven by the official OpenAI SDK, then
checked by the compliance suite and a short load profile — each part through its public command.

    python -m inferno.demo [--seconds 15] [--users 4] [--reports reports]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from openai import OpenAI

from .launcher import reference_server_process
from .urls import api_base, server_root

SUITE_TIMEOUT_S = 900
LOAD_GRACE_S = 120


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)), flush=True)


def talk_to(base_url: str) -> None:
    """A chat completion, a streamed one and embeddings through the OpenAI SDK."""
    client = OpenAI(base_url=api_base(base_url), api_key="not-needed", timeout=30.0, max_retries=0)
    model = client.models.list().data[0].id
    messages = [{"role": "user", "content": "Tell me about the sea."}]

    _title(f"chat completion (openai SDK, model {model})")
    reply = client.chat.completions.create(
        model=model, messages=messages, max_tokens=24, temperature=0
    )
    print(f"text:          {reply.choices[0].message.content!r}")
    print(f"finish_reason: {reply.choices[0].finish_reason}")
    print(f"usage:         {reply.usage.model_dump() if reply.usage else None}")

    _title("streamed chat completion")
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                print(f"  delta {choice.delta.content!r}")
        if chunk.usage:
            print(f"usage:         {chunk.usage.model_dump()}")
    print(f"joined:        {''.join(pieces)!r}")

    _title("embeddings (the SDK asks for base64)")
    result = client.embeddings.create(model=model, input=["hello", "the sea"])
    for item in result.data:
        head = ", ".join(f"{x:+.3f}" for x in item.embedding[:4])
        print(f"input {item.index}: {len(item.embedding)} dims [{head}, …]")


def run_compliance(base_url: str, report_dir: Path) -> int:
    """`pytest --pyargs compliance`, keeping only the suite's own summary on screen."""
    _title("compliance suite (preset extended, profile openai)")
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "compliance", "-p", "no:cacheprovider",
        "-q", "--base-url", api_base(base_url), "--report", str(report_dir),
    ]  # fmt: skip
    proc = subprocess.run(
        command, text=True, capture_output=True, timeout=SUITE_TIMEOUT_S, check=False
    )
    summary = proc.stdout.split("Inferno compliance summary")
    print(summary[-1].strip("= \n") if len(summary) > 1 else proc.stdout[-3000:])
    return proc.returncode


def run_load_profile(base_url: str, summary: Path, seconds: int, users: int) -> int:
    """`python -m loadtests` (Locust on the load profiles), keeping only our summary table."""
    _title(f"load profile ({seconds} s, {users} users, mixed traffic)")
    command = [
        sys.executable, "-m", "loadtests", "--headless", "--host", server_root(base_url),
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--max-tokens", "32",
        "--stop-timeout", "30", "--only-summary", "--loglevel", "WARNING",
        "--summary", str(summary), "--report", str(summary.parent / "load"),
    ]  # fmt: skip
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + LOAD_GRACE_S, check=False
    )
    # Locust prints its own tables after ours; only ours is kept on screen.
    print(proc.stdout.split("Type     Name")[0].rstrip())
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inferno.demo", description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="load profile length (15)")
    parser.add_argument("--users", type=int, default=4, help="concurrent load users (4)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="output folder")
    args = parser.parse_args(argv)
    reports = args.reports.resolve()
    reports.mkdir(parents=True, exist_ok=True)
    with reference_server_process(["--model", "tiny"]) as server:
        print(f"reference server: {api_base(server.base_url)}")
        talk_to(server.base_url)
        suite = run_compliance(server.base_url, reports / "compliance")
        load = run_load_profile(
            server.base_url, reports / "load-summary.json", args.seconds, args.users
        )
    print("\nserver stopped.")
    _title("where to look")
    print(f"compliance report: {reports / 'compliance' / 'report.html'}")
    print(f"                   {reports / 'compliance' / 'report.md'}")
    print(f"load summary:      {reports / 'load-summary.json'}")
    print(f"load report:       {reports / 'load' / 'report.html'}")
    return suite or load


if __name__ == "__main__":
    sys.exit(main())
