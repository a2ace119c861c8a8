"""Embedding requests on the engine thread, in slices between decode steps.

The requests waiting when a batch starts are embedded together, so that concurrent requests
share decodes. While generations run, each engine pass embeds about one decode step's worth of
inputs, so that a stream waits at most about one step more per token instead of for the whole
batch; with nothing generating, the rest of the batch goes at once. An input must be embedded
in one piece (its pooled vector needs all its tokens in one decode), and one may take longer
than a decode step: such an input goes while the streams wait on their readers rather than on
the engine, or else once in `LONG_EVERY` decode steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backend import Backend

# Weight of the newest measurement in the running averages: a few passes follow a change of
# load, and one slow pass (a page fault, a busy neighbour) does not swing the slice size.
EMA_WEIGHT = 0.25
# Decode steps between two slices longer than a step: one token gap in 40 (2.5 %) is then
# lengthened, well below the 5 % that would move a stream's ITL p95, while the inputs still
# progress.
LONG_EVERY = 40


@dataclass(eq=False)
class EmbedJob:
    token_lists: list[list[int]]
    future: asyncio.Future[list[list[float]]]
    loop: asyncio.AbstractEventLoop
    vectors: list[list[float]] = field(default_factory=list)  # embedded so far, in order
    ended: bool = False  # settled here, or given up by its caller

    @property
    def left(self) -> list[list[int]]:
        """The inputs not embedded yet."""
        return self.token_lists[len(self.vectors) :]


class EmbedPacer:
    """Decides how much to embed in each pass beside decoding, from running averages of what a
    decode step and an embedded token cost, in seconds of `clock` (time.monotonic; tests pass
    a clock their fake backend advances)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.step_s: float | None = None
        self.token_s: float | None = None
        self.decoding = False  # the last pass decoded: streams wait on the engine, not readers
        self.since_long = LONG_EVERY  # decode steps since the last slice longer than a step

    def stepped(self, seconds: float | None) -> None:
        """After a pass's decode step: how long it took, or None when it decoded nothing."""
        self.decoding = seconds is not None
        if seconds is not None:
            self.since_long += 1
            self.step_s = running_average(self.step_s, seconds)

    def embedded(self, tokens: int, seconds: float) -> None:
        if tokens > 0:
            self.token_s = running_average(self.token_s, seconds / tokens)

    def tokens_per_step(self) -> int:
        """Tokens embedded in about the time of one decode step (0 until both are measured)."""
        if self.step_s is None or not self.token_s:
            return 0
        return int(self.step_s / self.token_s)

    def budget(self, first: int) -> int | None:
        """Tokens to embed in this pass beside generations when the next input has `first`
        tokens; None: none in this pass (see the module's docstring)."""
        fits = self.tokens_per_step()
        if first <= fits:
            return fits
        if self.decoding and self.since_long < LONG_EVERY:
            return None
        self.since_long = 0
        return fits  # the one input alone


def running_average(old: float | None, new: float) -> float:
    """The newest measurement weighed in (EMA_WEIGHT); the first one as it is."""
    return new if old is None else old + EMA_WEIGHT * (new - old)


Slice = list[tuple[EmbedJob, int]]  # (job, how many of its next inputs), in order


def next_slice(jobs: Sequence[EmbedJob], budget: int | None) -> Slice:
    """The next inputs to embed, in order: all that are left when `budget` is None; else
    inputs while their tokens fit in `budget`, at least one."""
    chosen: Slice = []
    tokens = taken = 0
    for job in jobs:
        if job.ended:
            continue
        count, left = 0, job.left
        for inputs in left:
            if budget is not None and taken and tokens + len(inputs) > budget:
                break
            tokens += len(inputs)
            taken += 1
            count += 1
        if count:
            chosen.append((job, count))
        if count < len(left):
            break  # the budget is spent: later jobs wait for the next pass
    return chosen


def plan_slice(jobs: Sequence[EmbedJob], pacer: EmbedPacer, *, generating: bool) -> Slice:
    """This pass's share of the batch `jobs`: all that is left unless `generating`, else what
    the pacer allows (possibly nothing). A job whose caller went away is skipped from now on."""
    for job in jobs:
        if not job.ended and job.future.cancelled():
            job.ended = True
    first = next((job.left[0] for job in jobs if not job.ended and job.left), None)
    if not generating or first is None:
        return next_slice(jobs, None)
    budget = pacer.budget(len(first))
    return [] if budget is None else next_slice(jobs, budget)


def embed_slice(
    backend: Backend, jobs: Sequence[EmbedJob], chosen: Slice, pacer: EmbedPacer
) -> None:
    """Embeds `chosen` (from `plan_slice`) and settles the jobs of `jobs` that are complete.
    A failing `backend.embed` fails the jobs that had inputs in the slice; the others go on."""
    flat = [tokens for job, count in chosen for tokens in job.left[:count]]
    if flat:
        started = pacer.clock()
        try:
            vectors = backend.embed(flat)
        except Exception as exc:
            for job, _ in chosen:
                settle(job, None, exc)
            return
        pacer.embedded(sum(map(len, flat)), pacer.clock() - started)
        start = 0
        for job, count in chosen:
            job.vectors.extend(vectors[start : start + count])
            start += count
    for job in jobs:
        if not job.ended and not job.left:
            settle(job, job.vectors, None)


def settle(job: EmbedJob, vectors: Any, error: BaseException | None) -> None:
    """Ends a job: its future gets `vectors` or `error` on its event loop (a no-op once the
    future is settled)."""
    job.ended = True

    def set_future() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(vectors)

    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is waiting
        job.loop.call_soon_threadsafe(set_future)
