"""How much of each workload one run does. The default fits `make bench` in its time budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Plan:
    overhead_s: float = 3.0  # /v1/models at overhead_concurrency for this long
    overhead_concurrency: int = 16
    one_token_requests: int = 60  # sequential 1-token requests for p50/p99
    single_tokens: int = 128
    single_repeats: int = 5
    levels: tuple[int, ...] = (1, 4, 8, 16)
    level_s: float = 3.0  # closed loop per concurrency level; started requests finish
    level_tokens: int = 64
    embed_batches: tuple[int, ...] = (1, 16, 64)
    embed_s: float = 2.0
    request_timeout_s: float = 120.0
    warmup_requests: int = 3

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Plan:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)  # type: ignore[arg-type]


QUICK = Plan(
    overhead_s=0.5,
    one_token_requests=10,
    single_tokens=32,
    single_repeats=1,
    levels=(1, 4),
    level_s=0.5,
    level_tokens=16,
    embed_batches=(1, 16),
    embed_s=0.5,
    request_timeout_s=60.0,
    warmup_requests=1,
)

# One request of each kind: what the smoke test of the benchmark code runs.
SMOKE = Plan(
    overhead_s=0.2,
    overhead_concurrency=2,
    one_token_requests=2,
    single_tokens=8,
    single_repeats=1,
    levels=(2,),
    level_s=0.1,
    level_tokens=4,
    embed_batches=(2,),
    embed_s=0.1,
    request_timeout_s=30.0,
    warmup_requests=1,
)
