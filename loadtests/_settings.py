"""Run-wide settings, built once per process from Locust's parsed options."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from ._datasets import load_prompts
from ._prompts import Prompt, builtin_prompts, shared_prefix
from ._recorder import MAX_TURNS
from ._trace import TraceEntry, load_trace

CLOSED = "closed"
TRACE = "trace"  # open loop on the timestamps of --trace


@dataclass
class Settings:
    model: str = ""
    max_tokens: int = 64
    api_key: str = ""
    temperature: float = 0.7
    prompts: list[Prompt] = field(default_factory=builtin_prompts)
    extra_body: dict[str, Any] = field(default_factory=dict)
    request_timeout: float = 300.0
    max_retry_after: float = 30.0
    seed: int | None = None
    arrival: str = CLOSED
    rate: float = 0.0
    burstiness: float = 1.0
    max_in_flight: int = 512
    late_after_s: float = 0.05
    turns: int = 4
    prefix: str = ""  # the shared system prompt (--shared-prefix-tokens)
    trace: list[TraceEntry] = field(default_factory=list)
    trace_speed: float = 1.0

    @property
    def open_loop(self) -> bool:
        return self.arrival != CLOSED

    def pick_prompt(self, rng: random.Random) -> Prompt:
        return rng.choice(self.prompts)


def from_options(options: Any) -> Settings:
    settings = Settings()
    if options is None:
        return settings
    settings.model = getattr(options, "model", "") or ""
    settings.max_tokens = int(getattr(options, "max_tokens", 64) or 64)
    settings.api_key = getattr(options, "api_key", "") or ""
    settings.temperature = float(getattr(options, "temperature", 0.7))
    settings.request_timeout = float(getattr(options, "request_timeout", 300.0) or 300.0)
    settings.max_retry_after = float(getattr(options, "max_retry_after", 30.0))
    if getattr(options, "prompts", ""):
        settings.prompts = load_prompts(options.prompts)
    extra = getattr(options, "extra_body", "") or ""
    if extra:
        parsed = json.loads(extra)
        if not isinstance(parsed, dict):
            raise ValueError("--extra-body must be a JSON object")
        settings.extra_body = parsed
    seed = getattr(options, "seed", None)  # the web UI sends a string, "" for none
    settings.seed = None if seed in (None, "") else int(seed)
    _open_loop_options(settings, options)
    settings.turns = int(getattr(options, "turns", 4))
    if not 1 <= settings.turns <= MAX_TURNS:
        raise ValueError(f"--turns must be between 1 and {MAX_TURNS}")
    prefix_tokens = int(getattr(options, "shared_prefix_tokens", 0) or 0)
    if prefix_tokens < 0:
        raise ValueError("--shared-prefix-tokens must not be negative")
    settings.prefix = shared_prefix(prefix_tokens)
    return settings


def _open_loop_options(settings: Settings, options: Any) -> None:
    shape = getattr(options, "shape", "constant") or "constant"
    settings.arrival = getattr(options, "arrival", CLOSED) or CLOSED
    if shape == "rate-sweep" and settings.arrival == CLOSED:
        settings.arrival = "poisson"  # a rate sweep is open loop by definition
    settings.rate = float(getattr(options, "rate", 0.0) or 0.0)
    settings.burstiness = float(getattr(options, "burstiness", 1.0))
    settings.max_in_flight = int(getattr(options, "max_in_flight", 512))
    settings.late_after_s = float(getattr(options, "late_after_ms", 50.0)) / 1000.0
    trace = getattr(options, "trace", "") or ""
    if trace:
        settings.trace_speed = float(getattr(options, "trace_speed", 1.0) or 1.0)
        if settings.trace_speed <= 0:
            raise ValueError("--trace-speed must be positive")
        if shape not in ("constant", "soak"):
            raise ValueError("--trace sets the arrivals itself: use it with --shape constant")
        settings.trace = load_trace(trace)
        settings.arrival = TRACE
        length = settings.trace[-1].at_s / settings.trace_speed
        settings.rate = len(settings.trace) / length if length > 0 else 0.0  # for the summary
    if not settings.open_loop or settings.trace:
        return
    if shape == "sweep":
        raise ValueError("--shape sweep steps users (closed loop); use rate-sweep with --arrival")
    if shape == "rate-sweep" and settings.rate <= 0:
        settings.rate = 1.0
    if settings.rate <= 0:
        raise ValueError("--arrival needs --rate (requests per second, > 0)")
    if settings.burstiness <= 0:
        raise ValueError("--burstiness must be positive")
    if settings.max_in_flight < 1:
        raise ValueError("--max-in-flight must be at least 1")


SETTINGS = Settings()
