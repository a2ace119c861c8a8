"""`make demo`: the reference server on the tiny model, driven by the official OpenAI SDK, then
checked by the compliance suite and a short load profile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openai import OpenAI

from .launcher import ServerProcess
from .tiny_model import TINY_MODEL_ID


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def talk_to(base_url: str) -> None:
    client = OpenAI(base_url=base_url + "/v1", api_key="not-needed", timeout=30.0, max_retries=0)
    messages = [{"role": "user", "content": "Tell me about the sea."}]

    _title("chat completion (openai SDK)")
    reply = client.chat.completions.create(
        model=TINY_MODEL_ID, messages=messages, max_tokens=24, temperature=0
    )
    print(f"text:          {reply.choices[0].message.content!r}")
    print(f"finish_reason: {reply.choices[0].finish_reason}")
    print(f"usage:         {reply.usage.model_dump()}")

    _title("streamed chat completion")
    stream = client.chat.completions.create(
        model=TINY_MODEL_ID,
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
    result = client.embeddings.create(model=TINY_MODEL_ID, input=["hello", "the sea"])
    for item in result.data:
        head = ", ".join(f"{x:+.3f}" for x in item.embedding[:4])
        print(f"input {item.index}: {len(item.embedding)} dims [{head}, …]")


def run_compliance(base_url: str, report_dir: Path) -> int:
    _title("compliance suite (preset extended, profile openai)")
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "compliance", "-p", "no:cacheprovider",
        "-q", "--base-url", base_url + "/v1", "--report", str(report_dir),
    ]  # fmt: skip
    proc = subprocess.run(command, text=True, capture_output=True, timeout=900, check=False)
    summary = proc.stdout.split("Inferno compliance summary")
    print(summary[-1].strip("= \n") if len(summary) > 1 else proc.stdout[-3000:])
    return proc.returncode


def run_load_profile(base_url: str, summary: Path) -> int:
    from loadtests._demo import run_profile

    _title("load profile (15 s, 4 users, mixed traffic)")
    return run_profile(base_url, seconds=15, users=4, summary=str(summary))


def main() -> int:
    reports = Path("reports").resolve()
    reports.mkdir(exist_ok=True)
    with ServerProcess(["--model", "tiny"]) as server:
        print(f"reference server: {server.base_url}/v1")
        talk_to(server.base_url)
        suite = run_compliance(server.base_url, reports / "compliance")
        load = run_load_profile(server.base_url, reports / "load-summary.json")
    print("\nserver stopped.")
    _title("where to look")
    print(f"compliance report: {reports / 'compliance' / 'report.html'}")
    print(f"                   {reports / 'compliance' / 'report.md'}")
    print(f"load summary:      {reports / 'load-summary.json'}")
    return suite or load


if __name__ == "__main__":
    sys.exit(main())
