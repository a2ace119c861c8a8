"""How much of each measurement one run does: the issue's figures, or a quick rough check."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Plan:
    fuzz_cases: int = 2000  # at least this many schemathesis cases over every operation
    sweep_max_users: int = 64
    sweep_step_s: float = 15.0
    soak_s: float = 600.0
    warmup_s: float = 60.0  # RSS growth is measured after this; TTFT windows are this long
    rss_every_s: float = 10.0
    storm_requests: int = 400
    storm_vanishing: float = 0.75  # share of the storm's clients that vanish
    storm_in_flight: int = 48
    overload_factor: int = 10  # the burst is this many times the admission queue
    max_queue: int = 16  # the server's --max-queue (its default)
    hostile_request_timeout_s: float = 2.0
    hostile_runs_at_once: int = 4
    embed_streams: int = 20  # streams timed alone, then as many beside embedding requests
    embed_stream_tokens: int = 200
    bad_config_fixed_every: int = 1  # every fixed bad configuration (quick: every 4th)
    bad_config_random: int = 40  # random flag and --config combinations

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


QUICK = Plan(
    fuzz_cases=200,
    sweep_max_users=16,
    sweep_step_s=6.0,
    soak_s=60.0,
    warmup_s=15.0,
    rss_every_s=5.0,
    storm_requests=80,
    storm_in_flight=24,
    hostile_request_timeout_s=1.0,
    embed_streams=5,
    bad_config_fixed_every=4,
    bad_config_random=4,
)
