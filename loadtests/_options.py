"""Custom command-line arguments (each also an environment variable and a web UI field)."""

from __future__ import annotations

from typing import Any

from ._arrivals import ARRIVALS
from ._settings import CLOSED

SHAPES = ("constant", "ramp", "spike", "soak", "sweep", "rate-sweep")


def add_arguments(parser: Any) -> None:
    group = parser  # a plain argparse group would reject Locust's is_secret keyword
    group.add_argument(
        "--model",
        env_var="INFERNO_MODEL",
        default="",
        help="Model id to request (default: the first id listed by GET /v1/models)",
    )
    group.add_argument(
        "--max-tokens",
        env_var="INFERNO_MAX_TOKENS",
        type=int,
        default=64,
        help="max_tokens per generation request (a prompt file entry may override it)",
    )
    group.add_argument(
        "--api-key",
        env_var="INFERNO_API_KEY",
        default="",
        is_secret=True,
        help="Bearer token sent as Authorization header",
    )
    group.add_argument(
        "--temperature",
        env_var="INFERNO_TEMPERATURE",
        type=float,
        default=0.7,
        help="Sampling temperature",
    )
    group.add_argument(
        "--prompts",
        env_var="INFERNO_PROMPTS",
        default="",
        help="JSONL or JSON array of prompts: {'prompt': str}, {'messages': [...]} (optional "
        "max_tokens), or ShareGPT {'conversations': [...]} (human turns sent, recorded reply "
        "lengths as max_tokens)",
    )
    group.add_argument(
        "--seed",
        env_var="INFERNO_SEED",
        type=int,
        default=None,
        help="Seed for prompt sampling and arrival times (default: a random one, shown in the "
        "summary); the same seed repeats a run's requests and schedule",
    )
    group.add_argument(
        "--arrival",
        env_var="INFERNO_ARRIVAL",
        choices=(CLOSED, *ARRIVALS),
        default=CLOSED,
        help="closed: each user sends its next request when the last one ended (-u = "
        "concurrency); poisson/gamma/constant: open loop, requests sent at --rate on that "
        "schedule whatever the latency (-u is not used)",
    )
    group.add_argument(
        "--rate",
        env_var="INFERNO_RATE",
        type=float,
        default=0.0,
        help="Open loop: requests per second of the whole run, split over the load processes "
        "(rate-sweep: the first step's rate)",
    )
    group.add_argument(
        "--trace",
        env_var="INFERNO_TRACE",
        default="",
        help="Replay this timed request trace open loop: JSONL with timestamp (ms), input_length, "
        "output_length, optional hash_ids, session_id, prompt (Mooncake style), or a CSV with "
        "Timestamp (s), Request tokens, Response tokens (BurstGPT style); --rate is not used",
    )
    group.add_argument(
        "--trace-speed",
        env_var="INFERNO_TRACE_SPEED",
        type=float,
        default=1.0,
        help="--trace: replay this many times faster than recorded (0.5 = half as fast)",
    )
    group.add_argument(
        "--burstiness",
        env_var="INFERNO_BURSTINESS",
        type=float,
        default=1.0,
        help="gamma arrivals: shape of the gaps; 1 = Poisson, below 1 burstier, above 1 steadier",
    )
    group.add_argument(
        "--max-in-flight",
        env_var="INFERNO_MAX_IN_FLIGHT",
        type=int,
        default=512,
        help="Open loop: requests in flight per load process at most; an arrival that finds "
        "them all busy is dropped and counted",
    )
    group.add_argument(
        "--late-after-ms",
        env_var="INFERNO_LATE_AFTER_MS",
        type=float,
        default=50.0,
        help="Open loop: an arrival sent more than this after its due time counts as late",
    )
    group.add_argument(
        "--turns",
        env_var="INFERNO_TURNS",
        type=int,
        default=4,
        help="ConversationUser: turns per conversation (each sends the whole history back)",
    )
    group.add_argument(
        "--shared-prefix-tokens",
        env_var="INFERNO_SHARED_PREFIX_TOKENS",
        type=int,
        default=0,
        help="Prepend a system prompt of about this many tokens, the same for every request",
    )
    group.add_argument(
        "--extra-body",
        env_var="INFERNO_EXTRA_BODY",
        default="",
        help="JSON object merged into every request body, e.g. '{\"ignore_eos\": true}'",
    )
    group.add_argument(
        "--request-timeout",
        env_var="INFERNO_REQUEST_TIMEOUT",
        type=float,
        default=300.0,
        help="Seconds before a request (including the whole stream) counts as failed",
    )
    group.add_argument(
        "--max-retry-after",
        env_var="INFERNO_MAX_RETRY_AFTER",
        type=float,
        default=30.0,
        help="Upper bound in seconds on honouring a shed response's Retry-After",
    )
    group.add_argument(
        "--shape",
        env_var="INFERNO_SHAPE",
        choices=SHAPES,
        default="constant",
        help="Load shape; -u is the (peak) user count (open loop: --rate the peak rate), -t the "
        "total run time; rate-sweep steps the open-loop rate up to the knee",
    )
    group.add_argument(
        "--sweep-start",
        env_var="INFERNO_SWEEP_START",
        type=int,
        default=1,
        help="sweep: first concurrency level (rate-sweep starts at --rate)",
    )
    group.add_argument(
        "--sweep-step",
        env_var="INFERNO_SWEEP_STEP",
        type=float,
        default=0,
        help="sweep: users added per step; rate-sweep: requests/s added per step (0 = double)",
    )
    group.add_argument(
        "--sweep-step-time",
        env_var="INFERNO_SWEEP_STEP_TIME",
        type=float,
        default=15.0,
        help="sweep and rate-sweep: seconds per step",
    )
    group.add_argument(
        "--sweep-max-error-rate",
        env_var="INFERNO_SWEEP_MAX_ERROR_RATE",
        type=float,
        default=0.05,
        help="sweep and rate-sweep: a step whose (errors + shed + dropped arrivals) / requests "
        "exceeds this is saturated",
    )
    group.add_argument(
        "--slo",
        env_var="INFERNO_SLO",
        default="",
        help="Comma-separated objectives. Gates, e.g. ttft_p95_ms=500,itl_p95_ms=50,"
        "error_rate=0.01,min_output_tok_s=100,min_goodput_rps=5: a violation makes the exit code "
        "non-zero. Per request, e.g. ttft_ms=500,itl_ms=50,e2e_ms=5000 (itl_ms: the request's "
        "own ITL p95): requests meeting all of them count as goodput",
    )
    group.add_argument(
        "--report",
        env_var="INFERNO_REPORT",
        default="",
        help="Write summary.json and a self-contained report.html (latency distributions, "
        "throughput and TTFT over time, the rate-sweep curve, turns, SLO lines) to this folder",
    )
    group.add_argument(
        "--summary",
        env_var="INFERNO_SUMMARY",
        default="",
        help="Write the JSON summary (percentiles, throughput, shed/errors, shape, SLO) here",
    )
