"""Custom command-line arguments (each also an environment variable and a web UI field)."""

from __future__ import annotations

from typing import Any

SHAPES = ("constant", "ramp", "spike", "soak", "sweep")


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
        help="JSONL file of prompts: {'prompt': str} or {'messages': [...]}, optional max_tokens",
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
        help="Load shape; -u is the (peak) user count, -t the total run time",
    )
    group.add_argument(
        "--sweep-start",
        env_var="INFERNO_SWEEP_START",
        type=int,
        default=1,
        help="sweep: first concurrency level",
    )
    group.add_argument(
        "--sweep-step",
        env_var="INFERNO_SWEEP_STEP",
        type=int,
        default=0,
        help="sweep: concurrency increment per step (0 = double each step)",
    )
    group.add_argument(
        "--sweep-step-time",
        env_var="INFERNO_SWEEP_STEP_TIME",
        type=float,
        default=15.0,
        help="sweep: seconds per concurrency level",
    )
    group.add_argument(
        "--sweep-max-error-rate",
        env_var="INFERNO_SWEEP_MAX_ERROR_RATE",
        type=float,
        default=0.05,
        help="sweep: a step whose (errors + shed) / requests exceeds this is saturated",
    )
    group.add_argument(
        "--slo",
        env_var="INFERNO_SLO",
        default="",
        help="Comma-separated gates, e.g. ttft_p95_ms=500,itl_p95_ms=50,error_rate=0.01,"
        "min_output_tok_s=100; a violation makes the exit code non-zero",
    )
    group.add_argument(
        "--summary",
        env_var="INFERNO_SUMMARY",
        default="",
        help="Write the JSON summary (percentiles, throughput, shed/errors, shape, SLO) here",
    )
