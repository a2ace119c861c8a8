"""Continuous batching: which tokens go into each decode step, and what the results do.

Runs on the engine thread only. Each step carries the next token of every decoding sequence
whose stream has room, then prompt chunks of sequences in prefill, up to `n_batch` tokens, in
one `Backend.decode`; each sequence then samples from its own logits row with its own chain.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from ._channel import EventChannel
from ._placement import by_preference, holders, kept_logits
from ._prefill import SHORT_PROMPT, PrefillPacer
from ._sequence import Choice, Job, Phase, Slot, common_prefix
from ._step_counts import StepCounts
from .backend import Backend, KvCacheFull, Logits, StepBatch
from .base import EngineNotReady, EngineStats, StreamStalled

Item = tuple[Choice, Sequence[int], int, bool]  # choice, tokens, first position, wants logits

# How a request ended, as `retire` is told.
COMPLETED, CANCELLED, FAILED = "completed", "cancelled", "failed"


class Scheduler:
    def __init__(
        self,
        backend: Backend,
        *,
        stall_timeout: float,
        release: Callable[[int], None],
        retire: Callable[[Job, str], None],
    ) -> None:
        self.backend = backend
        self.facts = backend.facts
        self.stall_timeout = stall_timeout
        self._release = release  # gives sequences back to admission
        self._retire = retire  # a request has ended: COMPLETED, CANCELLED or FAILED
        self.slots = [Slot(i) for i in range(self.facts.n_seq)]
        self.jobs: list[Job] = []
        self.prefilling: list[Choice] = []
        self.cached_starts: list[Choice] = []  # whole prompt cached: sampled before the step
        self.batch = StepBatch(self.facts.n_batch)
        self.prefill = PrefillPacer(self.facts.prefill_chunk)
        self.woken: set[EventChannel] = set()  # channels that got events since the last wake
        self._turn = 0
        self.counts = StepCounts()

    # -- admission -----------------------------------------------------------------------------

    def admit(self, job: Job) -> None:
        """Starts a request on `job.width` free sequences (admission reserved them)."""
        prompt = job.prompt
        job.budget = max(0, min(job.request.params.max_tokens, self.facts.n_ctx - len(prompt)))
        self.jobs.append(job)
        free = by_preference([s for s in self.slots if s.choice is None], prompt)
        leader = self._start(job, free[0], None)
        job.cached_tokens = leader.n_past if leader else 0
        started = 1
        for slot in free[1 : job.width]:
            if job.done or job.next_choice >= job.request.n:
                break
            self._start(job, slot, leader)
            started += 1
        if started < job.width:
            self._release(job.width - started)  # the request ended before using them all

    def _start(self, job: Job, slot: Slot, leader: Choice | None) -> Choice | None:
        index = job.next_choice
        job.next_choice += 1
        job.running += 1
        try:
            sampler = self.backend.open_sampler(
                slot.seq_id,
                job.prompt,
                job.request.params,
                job.seed_for(index),
                lambda: job.channel.cancelled,
            )
        except Exception as exc:
            job.running -= 1
            self._release(1)
            self._fail(job, exc)
            return None
        choice = Choice(job, index, slot, sampler)
        slot.choice = choice
        if job.budget <= 0:
            self._finished(choice, "length")
        elif leader is not None and leader.phase is Phase.PREFILL:
            choice.phase = Phase.FOLLOW
            leader.followers.append(choice)
        elif leader is not None and leader.slot.prompt_logits is not None:
            # The leader started from its cached prompt: so do its siblings.
            if self._join(leader.slot, choice):
                self.cached_starts.append(choice)
            else:
                self._place(choice)
        else:
            self._place(choice)
        return choice

    def _place(self, choice: Choice) -> None:
        """Reuses the longest prefix of the prompt that this sequence's cache holds, then
        prefills the rest.

        An exact repeat of the prompt these cells hold reuses them all and starts from the
        logits kept for its last token: no step, and the same first token as the first time.
        Otherwise at most all but the last token are reused (its logits are needed). A last
        token decoded alone after its cached prompt may get other logits than inside its
        prompt's chunk (up to ~1.0 on Gemma 3), so without the kept logits a repeated request
        would not always give the same text. A prompt held whole by another sequence is
        shared from there (see `_placement`)."""
        prompt, slot = choice.job.prompt, choice.slot
        kept = kept_logits(slot, prompt)
        if kept is None and self._share_whole(choice):
            return
        if kept is not None:
            reuse = len(prompt)
        else:
            reuse = min(common_prefix(slot.cached, prompt), len(prompt) - 1)
        slot.forget_prompt()  # until this prompt is decoded, or found whole
        if not self.backend.forget(slot.seq_id, reuse):
            self.backend.forget(slot.seq_id, 0)
            reuse, kept = 0, None
        slot.cached = slot.cached[:reuse]
        choice.n_past = reuse
        self.counts.prompt_tokens_reused += reuse
        if kept is not None:
            slot.prompt_len, slot.prompt_logits = reuse, kept
            choice.phase = Phase.DECODE
            self.cached_starts.append(choice)
            return
        choice.phase = Phase.PREFILL
        self.prefilling.append(choice)

    def _share_whole(self, choice: Choice) -> bool:
        """Starts `choice` from another sequence that holds its whole prompt with the logits
        kept for it; False when none does (or its cells are no longer all there)."""
        prompt = choice.job.prompt
        for source in holders(self.slots, prompt, besides=choice.slot):
            if self._join(source, choice):
                self.counts.prompt_tokens_reused += len(prompt)
                self.cached_starts.append(choice)
                return True
        return False

    def _join(self, source: Slot, follower: Choice) -> bool:
        """A sibling shares the prompt cells of `source` (before anything may reuse them) and
        starts from the same logits; False when those cells are no longer all there."""
        prompt, target = follower.job.prompt, follower.slot
        if not self.backend.share(source.seq_id, target.seq_id, len(prompt)):
            return False
        target.cached = list(prompt)
        target.prompt_len, target.prompt_logits = source.prompt_len, source.prompt_logits
        follower.n_past = len(prompt)
        follower.phase = Phase.DECODE
        return True

    def start_cached(self) -> bool:
        """Samples the first token of each choice whose whole prompt was found cached, from
        its kept logits; False when there was none. Called before a step, so that those first
        tokens need not wait for it."""
        started = False
        while self.cached_starts:  # a choice that ends at once may start the next one here
            choice = self.cached_starts.pop(0)
            if choice.job.done or choice.slot.choice is not choice:
                continue
            logits = choice.slot.prompt_logits
            assert logits is not None
            self._sample(choice, logits)
            started = True
        return started

    # -- one step ------------------------------------------------------------------------------

    def step(self) -> bool:
        """One decode step; False when there was nothing to decode."""
        self.start_cached()  # their first tokens are what the step decodes
        now = time.monotonic()
        self._sweep(now)
        items = self._plan(now)
        if not items:
            return False
        items, rows = self._decode(items)
        for (choice, tokens, _, _), row in zip(items, rows, strict=True):
            if not choice.job.done:
                self._advance(choice, tokens, row)
        return True

    def _plan(self, now: float) -> list[Item]:
        items: list[Item] = []
        # Starting with a different sequence each step keeps a step that must be cut short
        # (KV cache full) from always leaving out the same sequences.
        slots, count = self.slots, len(self.slots)
        self._turn = turn = (self._turn + 1) % count
        for i in range(count):
            choice = slots[(turn + i) % count].choice
            if choice is None or choice.phase is not Phase.DECODE:
                continue
            job = choice.job
            if job.channel.has_room():
                items.append((choice, (choice.next_token,), choice.n_past, True))
                job.blocked_since = None
            elif job.blocked_since is None:
                job.blocked_since = now  # sits out until its reader catches up
        room = self.facts.n_batch - len(items)
        # Beside decoding sequences, a share that keeps their token gaps short; a short prompt
        # (or the end of a long one) still starts in one step, as arrivals come in bursts.
        budget = min(room, self.prefill.budget()) if items else room
        for choice in self.prefilling:
            if room <= 0:
                break
            prompt, start = choice.job.prompt, choice.n_past
            left = len(prompt) - start
            take = min(left, room if left <= SHORT_PROMPT else budget)
            if take <= 0:
                continue
            done = start + take == len(prompt)
            items.append((choice, prompt[start : start + take], start, done))
            room -= take
            budget -= take
        return items

    def _decode(self, items: list[Item]) -> tuple[list[Item], list[int]]:
        batch = self.batch
        while True:
            batch.clear()
            rows = [batch.add(tokens, start, c.slot.seq_id, out) for c, tokens, start, out in items]
            started = time.perf_counter()
            try:
                self.backend.decode(batch)
            except KvCacheFull as exc:
                smaller = self._smaller(items, exc)
                if not smaller:
                    return [], []
                items = smaller
                continue
            except Exception as exc:  # the cells of these sequences are now unknown
                for job in {c.job for c, *_ in items}:
                    self._fail(job, exc, clear_cells=True)
                return [], []
            self.counts.stepped(batch.size)
            decoding = sum(1 for c, *_ in items if c.phase is not Phase.PREFILL)
            seconds = time.perf_counter() - started
            self.prefill.stepped(seconds, decoding, batch.size - decoding)
            return items, rows

    def _smaller(self, items: list[Item], exc: KvCacheFull) -> list[Item] | None:
        """No room in the KV cache: drop idle caches, then halve the step; a single token that
        still does not fit ends its sequence (`length`) or fails its prefill."""
        if self._evict_idle():
            return items
        if len(items) > 1:
            return items[: len(items) // 2]
        choice, tokens, start, _ = items[0]
        if len(tokens) > 1:
            return [(choice, tokens[: len(tokens) // 2], start, False)]
        if choice.phase is Phase.DECODE:
            self._finished(choice, "length")
        else:
            self._fail(choice.job, exc)
        return None

    def _advance(self, choice: Choice, tokens: Sequence[int], row: int) -> None:
        choice.slot.cached.extend(tokens)
        choice.n_past += len(tokens)
        if choice.phase is not Phase.PREFILL:
            self._sample(choice, row)
            return
        self.counts.prompt_tokens_evaluated += len(tokens)
        if choice.n_past < len(choice.job.prompt):
            return
        slot = choice.slot
        slot.prompt_len = choice.n_past
        if self.facts.keeps_prompt_logits:
            slot.prompt_logits = self.backend.keep_logits(row)
        self.prefilling.remove(choice)
        choice.phase = Phase.DECODE
        followers, choice.followers = choice.followers, []
        joined = []
        for follower in followers:
            if self._join(slot, follower):
                joined.append(follower)
            else:
                self._place(follower)
        for member in (choice, *joined):
            if member.job.done:
                return
            self._sample(member, row)

    def _sample(self, choice: Choice, row: Logits) -> None:
        job = choice.job
        try:
            token = choice.sampler.sample(row)
            reason = choice.accept(self.backend, token, row)
        except Exception as exc:
            self._fail(job, exc)
            return
        self.woken.add(job.channel)
        if reason is not None:
            self._finished(choice, reason)

    # -- endings -------------------------------------------------------------------------------

    def _finished(self, choice: Choice, reason: str) -> None:
        job, slot = choice.job, choice.slot
        if choice in self.prefilling:
            self.prefilling.remove(choice)
        choice.end(reason)
        job.running -= 1
        self.woken.add(job.channel)
        if job.next_choice < job.request.n and not job.channel.cancelled:
            self._start(job, slot, None)  # the next choice reuses this sequence's prompt cells
        else:
            self._release(1)
        if job.running == 0 and job.next_choice >= job.request.n and not job.done:
            job.finish()
            self._end(job, COMPLETED)

    def _fail(self, job: Job, error: BaseException, *, clear_cells: bool = False) -> None:
        """Ends a request with an error (or, for a cancelled one, silently)."""
        if job.done:
            return
        for slot in self.slots:
            choice = slot.choice
            if choice is None or choice.job is not job:
                continue
            if choice in self.prefilling:
                self.prefilling.remove(choice)
            choice.close()
            if clear_cells:
                self.backend.forget(slot.seq_id, 0)
                slot.empty()
            self._release(1)
        job.channel.close(error)
        job.done = True
        self.woken.add(job.channel)
        cancelled = job.channel.cancelled or isinstance(error, StreamStalled)
        self._end(job, CANCELLED if cancelled else FAILED)

    def _end(self, job: Job, outcome: str) -> None:
        self.jobs.remove(job)
        self._retire(job, outcome)

    def _sweep(self, now: float) -> None:
        """Frees the sequences of requests whose client went away or stopped reading."""
        limit = self.stall_timeout
        ended = [
            job
            for job in self.jobs
            if job.channel.cancelled
            or (job.blocked_since is not None and now - job.blocked_since > limit)
        ]
        for job in ended:
            if job.channel.cancelled:
                self._fail(job, EngineNotReady("cancelled"))
            else:
                self._fail(job, StreamStalled(f"client did not read for {limit:g} s"))

    def _evict_idle(self) -> bool:
        evicted = False
        for slot in self.slots:
            if slot.choice is None and slot.cached:
                self.backend.forget(slot.seq_id, 0)
                slot.empty()
                evicted = True
        return evicted

    def shutdown(self) -> None:
        for job in list(self.jobs):
            self._fail(job, EngineNotReady("the server is stopping"))

    def abandon(self, error: BaseException) -> list[Job]:
        """After the engine thread failed mid-step: ends every request with `error` without
        asking the backend anything (its state is unknown) and returns them. The caller frees
        the sequences and their cells; this scheduler is not used again."""
        jobs, self.jobs = self.jobs, []
        for slot in self.slots:
            if slot.choice is not None:
                with contextlib.suppress(Exception):  # a broken sampler must not stop the rest
                    slot.choice.sampler.close()
                slot.choice = None
            slot.empty()
        self.prefilling = []
        self.cached_starts = []
        for job in jobs:
            if not job.done:
                job.channel.close(error)
                job.done = True
                self._retire(job, CANCELLED if job.channel.cancelled else FAILED)
            self.woken.add(job.channel)
        return jobs

    # -- numbers -------------------------------------------------------------------------------

    def take_woken(self) -> set[EventChannel]:
        """The channels that got events since the last call."""
        woken, self.woken = self.woken, set()
        return woken

    def wait_timeout(self) -> float | None:
        """Seconds until the next stall deadline (None: nothing is waiting on a reader)."""
        blocked = [j.blocked_since for j in self.jobs if j.blocked_since is not None]
        if not blocked:
            return None
        return max(0.0, min(blocked) + self.stall_timeout - time.monotonic()) + 0.01

    def stats(self) -> EngineStats:
        busy = sum(1 for s in self.slots if s.choice is not None)
        return self.counts.stats(busy, len(self.slots) - busy)
