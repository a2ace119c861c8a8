"""A pure-Python `Backend` for in-process scheduler tests: no llama.cpp, deterministic tokens,
and a KV cache it checks as it goes. A test double behind the engine boundary; nothing serves it.

The cache holds cells per sequence (position -> token) in at most `capacity` cells (None: no
limit). With a sliding `window`, a full cache first drops each sequence's cells that fell out of
its window, as llama.cpp's SWA cache does under pressure; only then is a step refused
(KvCacheFull). Every decode checks what a real cache would need, and records a violation instead
of raising (the scheduler turns a raised error into a failed request): a sequence's new tokens
must follow on from its cells, and with a window the cells of the window just before them must
all be there.

For the engine's embedding pacer, the fake also keeps a clock (`clock()`) that only its own work
advances: `decode_cost` per decode step, `token_cost` per embedded token. Every decode and embed
call is recorded in `calls`, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from reference_server.engine.backend import (
    KvCacheFull,
    Logits,
    ModelFacts,
    StepBatch,
    window_holds,
)
from reference_server.engine.types import SamplingParams, TokenLogprob

BOS, EOS, FIRST_TEXT_TOKEN = 1, 2, 3
N_VOCAB = 64
END_EVERY = 13  # about one sampled token in this many is end-of-generation


def fake_vector(tokens: Sequence[int]) -> list[float]:
    return [float(t) for t in [*tokens[:4], 0, 0, 0, 0][:4]]


class InjectedEngineFault(RuntimeError):
    """Raised by `forget` once armed: a failure on the engine thread outside a decode step."""


class FakeSampler:
    def __init__(self, backend: FakeBackend, seed: int) -> None:
        self._backend = backend
        self._seed = seed

    def sample(self, row: Logits) -> int:
        return self._backend.sample(row, self._seed)

    def close(self) -> None:
        self._backend.open_samplers -= 1


class FakeBackend:
    def __init__(
        self,
        *,
        n_seq: int = 3,
        n_ctx: int = 48,
        n_batch: int = 12,
        window: int = 0,
        capacity: int | None = None,
        keeps_prompt_logits: bool = True,
        prefill_chunk: int = 0,
    ) -> None:
        self.facts = ModelFacts(
            n_ctx=n_ctx,
            n_vocab=N_VOCAB,
            n_embd=4,
            n_seq=n_seq,
            n_batch=n_batch,
            bos_text="<s>",
            eos_text="</s>",
            keeps_prompt_logits=keeps_prompt_logits,
            prefill_chunk=prefill_chunk,
        )
        self.window = window
        self.capacity = capacity
        self.cells: dict[int, dict[int, int]] = {seq: {} for seq in range(n_seq)}
        self.outputs: dict[int, tuple[int, int, int]] = {}  # row -> (seq, position, token)
        self.violations: list[str] = []
        self.fault_armed = False
        self.open_samplers = 0
        self.decodes = 0
        self.ends = True  # False: never samples end-of-generation (streams run to max_tokens)
        self.now = 0.0
        self.decode_cost = 0.0
        self.token_cost = 0.0
        self.calls: list[tuple[str, int]] = []  # ("decode", tokens) or ("embed", inputs)
        self.embed_failure: Exception | None = None  # raised by the next embed call

    # -- tokens --------------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        body = [FIRST_TEXT_TOKEN + ord(c) % (N_VOCAB - FIRST_TEXT_TOKEN) for c in text]
        return [BOS, *body] if add_bos else body

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(self.token_piece(t).decode() for t in tokens)

    def token_piece(self, token: int) -> bytes:
        return b"" if token < FIRST_TEXT_TOKEN else bytes([97 + token % 26])

    def is_end_of_generation(self, token: int) -> bool:
        return token == EOS

    def keep_logits(self, row: int) -> np.ndarray:
        """The fake's logits are what it samples from: the output's position and token."""
        if row not in self.outputs:
            self.violations.append(f"kept row {row}, which the last step did not output")
            return np.array([-1, EOS])
        _, position, token = self.outputs[row]
        return np.array([position, token])

    def logprob(self, row: Logits, token: int, top_n: int) -> TokenLogprob:
        return TokenLogprob(self.token_piece(token).decode(), tuple(self.token_piece(token)), -1.0)

    def open_sampler(
        self,
        seq: int,
        prompt: Sequence[int],
        params: SamplingParams,
        seed: int,
        cancelled: Callable[[], bool],
    ) -> FakeSampler:
        self.open_samplers += 1
        return FakeSampler(self, seed)

    def sample(self, row: Logits, seed: int) -> int:
        if not isinstance(row, int):
            position, token = (int(x) for x in row)
        elif row in self.outputs:
            _, position, token = self.outputs[row]
        else:
            self.violations.append(f"sampled row {row}, which the last step did not output")
            return EOS
        mixed = (token * 7 + position * 3 + seed) % 1000
        if mixed % END_EVERY == 0 and self.ends:
            return EOS
        return FIRST_TEXT_TOKEN + mixed % (N_VOCAB - FIRST_TEXT_TOKEN)

    # -- the cache -----------------------------------------------------------------------------

    def used(self) -> int:
        return sum(len(c) for c in self.cells.values())

    def decode(self, batch: StepBatch) -> None:
        rows = range(batch.size)
        seqs = [int(batch.seqs[r]) for r in rows]
        if self.capacity is not None and self.used() + batch.size > self.capacity:
            self.drop_outside_windows()
            if self.used() + batch.size > self.capacity:
                raise KvCacheFull(f"fake: no room for {batch.size} cells")
        self.decodes += 1
        self.now += self.decode_cost
        self.calls.append(("decode", batch.size))
        placed: dict[int, int] = {}
        for seq in dict.fromkeys(seqs):
            positions = [int(batch.positions[r]) for r in rows if seqs[r] == seq]
            self._check_continues(seq, positions)
            placed[seq] = positions[0]
        self.outputs = {}
        for r in rows:
            seq, position, token = seqs[r], int(batch.positions[r]), int(batch.tokens[r])
            self.cells[seq][position] = token
            if batch.outputs[r]:
                self.outputs[r] = (seq, position, token)

    def _check_continues(self, seq: int, positions: list[int]) -> None:
        start = positions[0]
        if seq not in self.cells:
            self.violations.append(f"step uses sequence {seq}, which does not exist")
            self.cells[seq] = {}
        if positions != list(range(start, start + len(positions))):
            self.violations.append(f"sequence {seq} got positions {positions} in one step")
        held = self.cells[seq]
        if any(p >= start for p in held):
            self.violations.append(f"sequence {seq} already holds cells at or past {start}")
        lowest = 0 if self.window <= 0 else max(0, start - self.window)
        missing = [p for p in range(lowest, start) if p not in held]
        if missing:
            self.violations.append(
                f"sequence {seq} continues at {start} without cells {missing[:5]}..."
            )

    def drop_outside_windows(self) -> None:
        """What a sliding-window cache does when it needs room: each sequence keeps only the
        cells its next position can attend to."""
        if self.window <= 0:
            return
        for held in self.cells.values():
            if held:
                top = max(held)
                for position in [p for p in held if p <= top - self.window]:
                    del held[position]

    def _span(self, seq: int) -> tuple[int, int]:
        held = self.cells.get(seq) or {}
        return (min(held), max(held)) if held else (-1, -1)

    def forget(self, seq: int, start: int = 0) -> bool:
        if self.fault_armed:
            self.fault_armed = False
            raise InjectedEngineFault("injected engine-thread failure")
        if not window_holds(*self._span(seq), start, self.window):
            return False
        held = self.cells[seq]
        for position in [p for p in held if p >= start]:
            del held[position]
        return True

    def share(self, source: int, target: int, length: int) -> bool:
        if not window_holds(*self._span(source), length, self.window):
            return False
        self.cells[target] = {p: t for p, t in self.cells[source].items() if p < length}
        return True

    def clock(self) -> float:
        return self.now

    def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        """Each input's vector is its first four tokens (zero-padded): an answer shows which
        input it came from."""
        self.calls.append(("embed", len(token_lists)))
        self.now += self.token_cost * sum(map(len, token_lists))
        failure, self.embed_failure = self.embed_failure, None
        if failure is not None:
            raise failure
        return [fake_vector(tokens) for tokens in token_lists]

    def close(self) -> None:
        pass
