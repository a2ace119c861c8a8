"""The engine and its scheduler in process, over the pure-Python fake backend (fast tier): a
failure of the engine thread, the drain rate behind Retry-After, and sliding windows. The
stateful exploration of the same invariants is in test_scheduler_states.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reference_server.engine import GenerationDone, TextDelta
from reference_server.engine._prefill import SHORT_PROMPT
from reference_server.engine.backend import window_holds
from reference_server.engine.base import EngineFailed, EngineNotReady
from tests.reference_server._engine_driver import EngineDriver, Tracked
from tests.reference_server._fake_backend import FakeBackend


@pytest.fixture
def driver() -> Iterator[EngineDriver]:
    driver = EngineDriver(FakeBackend(n_seq=3))
    yield driver
    driver.close()


def _busy(driver: EngineDriver) -> None:
    """Two requests decoding, one handed sequences but not yet admitted, one queued."""
    for prompt in ("first", "second"):
        driver.submit(prompt, 40)
    for _ in range(3):
        driver.step()
    driver.submit("third", 40)
    driver.submit("fourth", 40, n=2)  # needs two sequences: only one is free, so it waits
    assert driver.engine.queued == 1 and driver.engine.running == 3


def _start_decoding(driver: EngineDriver, prompt: str, max_tokens: int) -> Tracked:
    """A request stepped until it decodes (its first token read)."""
    tracked = driver.submit(prompt, max_tokens)
    assert tracked is not None
    while not tracked.events:
        driver.step()
        driver.read(tracked, 1)
    return tracked


def _texts(tracked: Tracked) -> list[str]:
    """Each choice's text so far, by index."""
    texts: dict[int, str] = {}
    for event in tracked.events:
        if isinstance(event, TextDelta):
            texts[event.index] = texts.get(event.index, "") + event.text
    return [texts[i] for i in sorted(texts)]


def _cached_tokens(tracked: Tracked) -> int:
    done = [e for e in tracked.events if isinstance(e, GenerationDone)]
    assert len(done) == 1, tracked.events
    return done[0].cached_tokens


def test_an_engine_fault_fails_every_request_frees_everything_and_restarts(
    driver: EngineDriver,
) -> None:
    _busy(driver)
    driver.backend.fault_armed = True  # admitting "third" places it: that cache call fails
    driver.step()
    driver.drain()
    assert all(isinstance(t.error, EngineFailed) for t in driver.requests), driver.requests
    engine = driver.engine
    assert engine.failed_jobs == 4 and engine.completed_jobs == 0
    assert engine.restarts == 1 and engine.fault is None and engine.ready
    assert engine.running == 0 and engine.queued == 0
    assert driver.backend.used() == 0 and driver.backend.open_samplers == 0
    driver.check()
    after = driver.submit("after", 5)
    driver.drain()
    assert after is not None and after.error is None and engine.completed_jobs == 1
    driver.check()


def test_failing_more_often_than_allowed_gives_up() -> None:
    driver = EngineDriver(FakeBackend(n_seq=2), max_restarts=2)
    try:
        for attempt in range(3):
            driver.submit(f"attempt {attempt}", 5)
            driver.backend.fault_armed = True
            driver.step()
        engine = driver.engine
        assert engine.given_up and not engine.ready and engine.fault is not None
        assert engine.restarts == 2
        assert driver.submit("too late", 5) is None
        assert not driver.step()  # a given-up engine does nothing more
        driver.drain()
        assert all(isinstance(t.error, EngineFailed) for t in driver.requests)
    finally:
        driver.close()


def test_the_drain_rate_counts_completed_generations_only(driver: EngineDriver) -> None:
    _busy(driver)
    driver.backend.fault_armed = True
    driver.step()
    driver.drain()
    engine = driver.engine

    async def embed() -> list[list[float]]:
        return await engine.embed([[1, 5, 6], [1, 7]])

    for _ in range(3):
        task = driver.loop.create_task(embed())
        driver.loop.run_until_complete(asyncio.sleep(0))  # queued on the engine
        driver.step()
        assert len(driver.loop.run_until_complete(task)) == 2
    assert engine.drain_rate() == 0.0  # four failures and three embeddings: no completions
    for prompt in ("one", "two", "three"):
        driver.submit(prompt, 3)
    driver.drain()
    assert engine.completed_jobs == 3 and engine.drain_rate() > 0


def test_a_given_up_engine_refuses_new_work() -> None:
    driver = EngineDriver(FakeBackend(n_seq=1), max_restarts=0)
    try:
        driver.submit("one", 5)
        driver.backend.fault_armed = True
        driver.step()
        with pytest.raises(EngineNotReady):
            driver.loop.run_until_complete(driver.engine.embed([[1, 2]]))
    finally:
        driver.close()


# -- sliding windows ---------------------------------------------------------------------------


def test_an_emptied_window_does_not_pass_for_a_full_one() -> None:
    # What a check after removing cells saw: the sequence's cells are gone, pos_min reads -1.
    assert not window_holds(-1, -1, length=10, window=4)
    assert not window_holds(8, 20, length=10, window=4)  # the window before 10 was dropped
    assert not window_holds(0, 5, length=10, window=4)  # cells stop before 10
    assert window_holds(6, 20, length=10, window=4)
    assert window_holds(-1, -1, length=10, window=0)  # no window: cells are never dropped


PROMPT = "a shared system prompt, then a question"


@pytest.mark.parametrize("pressure", [False, True])
def test_a_reused_prefix_never_lacks_its_window(pressure: bool) -> None:
    """A prompt's cells stay cached; under pressure a windowed cache drops the cells out of the
    window, so the next request with the same prefix must decode it again instead of reusing
    cells whose window is gone. (Checked after removing the cells past the prefix, the emptied
    sequence would read pos_min = -1 and pass: the fake backend then records a violation.)"""
    backend = FakeBackend(n_seq=1, n_ctx=64, n_batch=8, window=4)
    driver = EngineDriver(backend)
    try:
        first = driver.submit(PROMPT + " one", 8)
        assert first is not None
        while not first.events:  # until its prompt is in the cache and it decodes
            driver.step()
            driver.read(first, 1)
        if pressure:  # room for little more than the window: each step drops old cells
            backend.capacity = backend.window + 1
        driver.drain()
        backend.capacity = None
        assert first.error is None
        prompt_cells = len(backend.tokenize(PROMPT, add_bos=True, special=False))
        assert (backend.used() < prompt_cells) is pressure, backend.used()
        second = driver.submit(PROMPT + " two", 6)
        driver.drain()
        assert second is not None and second.error is None, second.error
        assert not backend.violations, backend.violations
        reused = _cached_tokens(second)
        assert reused == 0 if pressure else reused > len(PROMPT) // 2
        driver.check()
    finally:
        driver.close()


@pytest.mark.parametrize("chunk", [5, 13])
def test_a_long_prompt_is_prefilled_in_chunks_while_others_decode(chunk: int) -> None:
    """Beside a decoding sequence a step carries at most `prefill_chunk` prompt tokens, so the
    decoding stream gets a token every step of the long prefill."""
    backend = FakeBackend(n_seq=2, n_ctx=128, n_batch=48, prefill_chunk=chunk)
    backend.ends = False
    driver = EngineDriver(backend, stream_buffer=64)
    try:
        _start_decoding(driver, "ab", 60)
        backend.calls.clear()
        long = driver.submit("x" * 70, 1)
        assert long is not None
        while not long.events:
            driver.step()
            driver.read(long, 10)
        steps = [size for kind, size in backend.calls if kind == "decode"]
        # One decoding token per step beside the prompt's; its last SHORT_PROMPT tokens or
        # fewer go together.
        prompt_tokens = [size - 1 for size in steps]
        assert sum(prompt_tokens) == 71, steps
        assert set(prompt_tokens[:-1]) == {chunk}, steps
        assert prompt_tokens[-1] <= SHORT_PROMPT, steps
        driver.drain()
        driver.check()
    finally:
        driver.close()


def test_a_prompt_alone_takes_whole_batches_whatever_the_chunk() -> None:
    backend = FakeBackend(n_seq=2, n_ctx=64, n_batch=16, prefill_chunk=5)
    driver = EngineDriver(backend)
    try:
        alone = driver.submit("y" * 30, 1)
        assert alone is not None
        driver.drain()
        steps = [size for kind, size in backend.calls if kind == "decode"]
        assert steps[:2] == [16, 15], steps  # the 31 prompt tokens in whole batches
        driver.check()
    finally:
        driver.close()


@pytest.mark.parametrize("kept", [True, False])
def test_an_exact_repeat_starts_from_the_logits_kept_for_its_prompt(kept: bool) -> None:
    """A repeat reuses every cell of its prompt and samples its first token from the logits
    kept for the prompt's last token: the same first token, with no step before it. Without
    them (a benchmark switch) it reuses all but the last token and decodes that one alone."""
    backend = FakeBackend(n_seq=1, n_ctx=64, n_batch=16, keeps_prompt_logits=kept)
    backend.ends = False
    driver = EngineDriver(backend)
    try:
        first = driver.submit("z" * 30, 4)
        driver.drain()
        assert first is not None
        backend.calls.clear()
        again = driver.submit("z" * 30, 4)
        assert again is not None
        driver.step()  # one pass: the first token (if kept), then the step that decodes it
        steps = [size for kind, size in backend.calls if kind == "decode"]
        assert steps == [1], steps
        driver.read(again, 10)
        assert len(_texts(again)[0]) == (2 if kept else 1)
        driver.drain()
        assert _texts(again) == _texts(first)
        assert _cached_tokens(again) == (31 if kept else 30)
        other = driver.submit("z" * 29 + "y", 1)  # the same but its last token: no repeat
        backend.calls.clear()
        driver.drain()
        assert [size for kind, size in backend.calls if kind == "decode"] == [1]
        assert other is not None and other.error is None
        driver.check()
    finally:
        driver.close()


def test_siblings_of_a_repeated_prompt_start_from_its_kept_logits() -> None:
    backend = FakeBackend(n_seq=3, n_ctx=64, n_batch=16)
    backend.ends = False
    driver = EngineDriver(backend, stream_buffer=64)  # room for three first tokens
    try:
        first = driver.submit("w" * 20, 3)
        driver.drain()
        backend.calls.clear()
        again = driver.submit("w" * 20, 3, n=3)
        assert first is not None and again is not None
        driver.step()  # three first tokens from the kept logits, then one step for the three
        assert [size for kind, size in backend.calls if kind == "decode"] == [3]
        driver.drain()
        assert again.error is None and not backend.violations
        assert _texts(again)[0] == _texts(first)[0]  # choice 0 has the first request's seed
        assert _cached_tokens(again) == len(backend.tokenize("w" * 20, add_bos=True, special=False))
        driver.check()
    finally:
        driver.close()


def test_a_prompt_another_request_is_decoding_starts_from_its_cells_and_kept_logits() -> None:
    """The same prompt from a second client while the first still decodes: it shares the
    first one's prompt cells and kept logits, so its first token needs no step, and it gives
    the same text. A prompt that only begins the same is prefilled in its own sequence."""
    backend = FakeBackend(n_seq=3, n_ctx=64, n_batch=64)
    backend.ends = False
    driver = EngineDriver(backend, stream_buffer=64)
    try:
        prompt = "v" * 20
        first = _start_decoding(driver, prompt, 6)
        backend.calls.clear()
        again = driver.submit(prompt, 6)
        driver.step()  # its first token from the kept logits, then one step for both streams
        assert [size for kind, size in backend.calls if kind == "decode"] == [2]
        partly = driver.submit("v" * 19 + "u", 6)
        backend.calls.clear()
        driver.step()
        prompt_tokens = len(backend.tokenize(prompt, add_bos=True, special=False))
        assert [size for kind, size in backend.calls if kind == "decode"] == [2 + prompt_tokens]
        driver.drain()
        assert again is not None and partly is not None
        assert _texts(again) == _texts(first)
        assert _cached_tokens(again) == prompt_tokens
        assert _cached_tokens(partly) == 0
        driver.check()
    finally:
        driver.close()


def test_short_prompts_arriving_together_start_in_one_step_beside_decoding() -> None:
    backend = FakeBackend(n_seq=4, n_ctx=64, n_batch=64, prefill_chunk=4)
    backend.ends = False
    driver = EngineDriver(backend, stream_buffer=64, max_queue=8)
    try:
        _start_decoding(driver, "ab", 40)
        backend.calls.clear()
        burst = [driver.submit(f"question {i} of three", 1) for i in range(3)]
        driver.step()
        (size,) = [size for kind, size in backend.calls if kind == "decode"]
        prompts = sum(
            len(backend.tokenize(f"question {i} of three", add_bos=True, special=False))
            for i in range(3)
        )
        assert size == 1 + prompts  # far over the chunk of 4: each is short
        driver.drain()
        assert all(t is not None and t.error is None for t in burst)
        driver.check()
    finally:
        driver.close()
