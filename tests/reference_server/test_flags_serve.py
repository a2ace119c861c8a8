"""Random flag combinations through the real command, in a subprocess: each either exits 2 naming a
flag before any model loads, or comes up healthy and serves; never an abort (a failed GGML_ASSERT
in llama.cpp kills the process with SIGABRT) and never a Python traceback."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from inferno.launcher import ServerProcess, ServerStartError, reference_server_process
from reference_server.cli import API_KEYS_ENV

pytestmark = pytest.mark.slow

STARTUP_S = 60.0
EXAMPLES = 10
_EXITED = re.compile(r"server exited with (-?\d+):\n")


def serve_or_refuse(argv: list[str], key: str | None, n: int) -> str | None:
    """None when the server came up healthy and answered; its output when it exited 2."""
    try:
        server = reference_server_process(argv, env={API_KEYS_ENV: ""}, startup_timeout=STARTUP_S)
        with server:
            exercise(server, key, n)
            output = server.log(50_000)
    except ServerStartError as exc:
        exited = _EXITED.match(str(exc))
        assert exited, f"{argv}: neither served nor exited: {exc}"
        code = int(exited.group(1))
        assert code >= 0, f"{argv}: killed by signal {-code}: {exc}"
        assert code == 2, f"{argv}: exit {code}: {exc}"
        output = str(exc)
        assert "Traceback" not in output, output
        return output
    assert "Traceback" not in output, output
    return None


def exercise(server: ServerProcess, key: str | None, n: int) -> None:
    """One generation of `n` choices (every sequence decoding in the same steps), then the
    server must still be up and healthy."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": "inferno-tiny", "prompt": "a", "max_tokens": 2, "n": n, "temperature": 0}
    with httpx.Client(base_url=server.base_url, timeout=60.0, headers=headers) as http:
        answer = http.post("/v1/completions", json=body)
        if answer.status_code == 400:  # a context window too small for the prompt
            assert answer.json()["error"]["code"] == "context_length_exceeded", answer.text
        else:
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["choices"]) == n
        assert server.process is not None and server.process.poll() is None
        assert http.get("/health").status_code == 200


NOTHING_ELSE = dict.fromkeys(("n_ctx", "threads", "max_queue", "stream_buffer", "key", "timeout"))


def optional(good: list, bad: list) -> st.SearchStrategy:
    """Mostly left out or good, so that about half the combinations serve."""
    return st.sampled_from([None] * 4 + good + bad)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: each example starts a server
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    parallel=st.integers(1, 6),
    n_batch=st.integers(1, 8),
    n_ctx=optional([0, 8, 64, 1024], [1, 1025]),
    threads=optional([1, 2], [0]),
    max_queue=optional([0, 2], [-1]),
    stream_buffer=optional([1], [0]),
    key=optional(["sk-test"], ["", "two words"]),
    timeout=optional(["30"], ["0", "nan"]),
)
# The report: both aborted inside llama.cpp.
@example(parallel=8, n_batch=4, **NOTHING_ELSE)
@example(parallel=4, n_batch=1, **NOTHING_ELSE)
# Every bound at its edge: serves.
@example(
    parallel=4,
    n_batch=4,
    n_ctx=4,
    threads=1,
    max_queue=0,
    stream_buffer=1,
    key="sk-test",
    timeout="30",
)
def test_random_flags_either_serve_or_exit_2_naming_a_flag(
    parallel: int,
    n_batch: int,
    n_ctx: int | None,
    threads: int | None,
    max_queue: int | None,
    stream_buffer: int | None,
    key: str | None,
    timeout: str | None,
) -> None:
    argv = ["--model", "tiny", "--parallel", str(parallel), "--n-batch", str(n_batch)]
    for flag, value in (
        ("--n-ctx", n_ctx),
        ("--threads", threads),
        ("--max-queue", max_queue),
        ("--stream-buffer", stream_buffer),
        ("--api-key", key),
        ("--request-timeout", timeout),
    ):
        if value is not None:
            argv.append(f"{flag}={value}")
    refusal = serve_or_refuse(argv, key, parallel)
    if refusal is None:
        return
    assert "usage: python -m reference_server serve" in refusal, refusal
    named = re.search(r"serve: error: argument (--[a-z-]+):", refusal)
    given_flags = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
    assert named and named.group(1) in given_flags, refusal
