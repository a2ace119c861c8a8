"""A short load profile against a freshly started reference server, ending with the summary table.

python loadtests/_demo.py [--seconds 15] [--users 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def warm_up(base_url: str, rounds: int = 3) -> None:
    """The first generations of a fresh server are slow; keep them out of the measurement."""
    import httpx

    body = {"messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 4}
    model = httpx.get(base_url + "/v1/models", timeout=30).json()["data"][0]["id"]
    for _ in range(rounds):
        httpx.post(base_url + "/v1/chat/completions", json={**body, "model": model}, timeout=60)


def run_profile(base_url: str, seconds: int = 15, users: int = 4, summary: str = "") -> int:
    """Runs a short headless profile against `base_url` and prints our summary table."""
    warm_up(base_url)
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE), "--headless",
        "--host", base_url, "-u", str(users), "-r", str(users),
        "-t", str(seconds), "--max-tokens", "32", "--stop-timeout", "30",
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    if summary:
        command += ["--summary", summary]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    # Locust prints its own tables after ours; only our table is kept on stdout.
    print(proc.stdout.split("Type     Name")[0].rstrip())
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--summary", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from reference_server.launcher import ServerProcess

    with ServerProcess(["--model", "tiny"]) as server:
        return run_profile(server.base_url, args.seconds, args.users, args.summary)


if __name__ == "__main__":
    sys.exit(main())
