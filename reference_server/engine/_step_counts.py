"""What the scheduler counts for /metrics: decode steps, prompt tokens decoded or found cached,
and a histogram of the tokens each step carried."""

from __future__ import annotations

import bisect

from .base import BATCH_TOKEN_BUCKETS, EngineStats


class StepCounts:
    def __init__(self) -> None:
        self.decode_steps = 0
        self.prompt_tokens_evaluated = 0
        self.prompt_tokens_reused = 0
        self.batch_tokens_total = 0
        self._batch_counts = [0] * (len(BATCH_TOKEN_BUCKETS) + 1)

    def stepped(self, tokens: int) -> None:
        self.decode_steps += 1
        self.batch_tokens_total += tokens
        self._batch_counts[bisect.bisect_left(BATCH_TOKEN_BUCKETS, tokens)] += 1

    def stats(self, busy: int, idle: int) -> EngineStats:
        cumulative, running = [], 0
        for count in self._batch_counts:
            running += count
            cumulative.append(running)
        return EngineStats(
            busy_sequences=busy,
            idle_sequences=idle,
            decode_steps=self.decode_steps,
            prompt_tokens_evaluated=self.prompt_tokens_evaluated,
            prompt_tokens_reused=self.prompt_tokens_reused,
            batch_token_buckets=tuple(cumulative),
            batch_tokens_total=self.batch_tokens_total,
        )
