"""Embedding requests beside generations, in process over the fake backend: a large request is
embedded in slices between decode steps, so a stream keeps making progress, and every request
still gets all its vectors in order, or its error.

The fake backend's clock makes the pacing exact: a decode step costs 1.0 and an embedded token
0.1, so a slice holds about ten tokens: two of the four-token inputs below."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from reference_server.engine._embeddings import LONG_EVERY, EmbedJob, EmbedPacer, next_slice
from reference_server.engine.base import EngineFailed, EngineNotReady
from tests.reference_server._engine_driver import EngineDriver, Tracked
from tests.reference_server._fake_backend import FakeBackend, fake_vector

STEP_COST, TOKEN_COST = 1.0, 0.1
PER_SLICE = 2  # four-token inputs within ten tokens
MAX_PASSES = 500  # far more than any test here needs; a hang fails instead


def inputs(count: int, first: int = 0) -> list[list[int]]:
    """`count` distinct four-token inputs."""
    return [[1, 3 + (first + i) % 61, 3 + (first + i) // 61, 5] for i in range(count)]


@pytest.fixture
def driver() -> Iterator[EngineDriver]:
    backend = FakeBackend(n_seq=2, n_ctx=400)
    backend.ends = False
    backend.decode_cost, backend.token_cost = STEP_COST, TOKEN_COST
    driver = EngineDriver(backend)
    driver.engine._pacer = EmbedPacer(backend.clock)
    yield driver
    driver.close()


def decoding(driver: EngineDriver, max_tokens: int = 300) -> Tracked:
    """A stream that has started decoding (its prompt is in)."""
    stream = driver.submit("a stream beside embeddings", max_tokens)
    assert stream is not None
    for _ in range(MAX_PASSES):
        driver.step()
        driver.read(stream, 1_000)
        if stream.events:
            return stream
    raise AssertionError("the stream never started")


def until_done(driver: EngineDriver, tasks: list[asyncio.Task], stream: Tracked | None) -> None:
    for _ in range(MAX_PASSES):
        if stream is not None:
            driver.read(stream, 1_000)
        if all(task.done() for task in tasks):
            return
        driver.step()
    raise AssertionError(f"embeddings not settled in {MAX_PASSES} passes")


def embed_calls(driver: EngineDriver) -> list[int]:
    return [n for kind, n in driver.backend.calls if kind == "embed"]


def test_a_big_request_is_embedded_in_slices_between_decode_steps(driver: EngineDriver) -> None:
    stream = decoding(driver)
    driver.backend.calls.clear()
    token_lists = inputs(64)
    task = driver.embed(token_lists)
    events_before = len(stream.events)
    until_done(driver, [task], stream)
    assert task.result() == [fake_vector(tokens) for tokens in token_lists]  # all, in order
    calls = driver.backend.calls
    # The first slice is one input (nothing measured yet), then as many as fit beside a step.
    assert embed_calls(driver) == [1] + [PER_SLICE] * 31 + [1]
    # A decode step between every two slices: the stream made progress all along.
    kinds = [kind for kind, _ in calls]
    assert ("embed", "embed") not in set(itertools.pairwise(kinds)), kinds
    assert kinds.count("decode") >= len(embed_calls(driver)) - 1
    assert len(stream.events) - events_before >= 30
    assert stream.error is None and not stream.ended
    driver.check()


def test_an_input_longer_than_a_step_goes_once_in_so_many_steps(driver: EngineDriver) -> None:
    driver.backend.token_cost = 0.5  # one four-token input takes two decode steps
    stream = decoding(driver)
    driver.backend.calls.clear()
    token_lists = inputs(5)
    task = driver.embed(token_lists)
    until_done(driver, [task], stream)
    assert task.result() == [fake_vector(tokens) for tokens in token_lists]
    assert embed_calls(driver) == [1] * 5
    kinds = [kind for kind, _ in driver.backend.calls]
    at = [i for i, kind in enumerate(kinds) if kind == "embed"]
    between = [kinds[a:b].count("decode") for a, b in itertools.pairwise(at)]
    assert between and min(between) >= LONG_EVERY - 1, between
    assert stream.error is None and not stream.ended


def test_while_streams_wait_on_their_readers_long_inputs_go_every_pass(
    driver: EngineDriver,
) -> None:
    driver.backend.token_cost = 0.5
    stream = decoding(driver)
    for _ in range(10):  # nobody reads: the stream's buffer fills and it stops decoding
        driver.step()
    driver.backend.calls.clear()
    task = driver.embed(inputs(5))
    until_done(driver, [task], None)
    assert embed_calls(driver) == [1] * 5
    assert len(driver.backend.calls) == 5  # one input a pass, no decode step between
    driver.read(stream, 1_000)
    assert stream.error is None and stream.events


def test_with_nothing_generating_waiting_requests_are_embedded_together_at_once(
    driver: EngineDriver,
) -> None:
    first, second = inputs(64), inputs(3, first=64)
    tasks = [driver.embed(first), driver.embed(second)]
    driver.step()
    assert all(task.done() for task in tasks)
    assert embed_calls(driver) == [67]
    assert tasks[0].result() == [fake_vector(t) for t in first]
    assert tasks[1].result() == [fake_vector(t) for t in second]


def test_a_stream_that_ends_leaves_the_rest_to_be_embedded_at_once(driver: EngineDriver) -> None:
    stream = decoding(driver, max_tokens=12)
    driver.backend.calls.clear()
    task = driver.embed(inputs(64))
    until_done(driver, [task], stream)
    assert stream.ended and stream.error is None
    calls = embed_calls(driver)
    assert len(calls) < 20 and calls[-1] > PER_SLICE, calls  # the rest went in one call
    assert len(task.result()) == 64


def test_a_cancelled_request_is_skipped_and_the_others_go_on(driver: EngineDriver) -> None:
    stream = decoding(driver)
    first, second = inputs(64), inputs(4, first=64)
    cancelled, kept = driver.embed(first), driver.embed(second)
    for _ in range(5):
        driver.step()
    done_before = sum(embed_calls(driver))
    assert 0 < done_before < 64
    cancelled.cancel()
    until_done(driver, [cancelled, kept], stream)
    assert cancelled.cancelled()
    assert kept.result() == [fake_vector(t) for t in second]
    # After the cancellation only the other request's inputs were embedded.
    assert sum(embed_calls(driver)) - done_before <= len(second) + PER_SLICE
    assert not driver.engine._embeds_in_hand


def test_a_failing_slice_fails_its_requests_and_the_others_go_on(driver: EngineDriver) -> None:
    stream = decoding(driver)
    first, second = inputs(64), inputs(4, first=64)
    failing, kept = driver.embed(first), driver.embed(second)
    for _ in range(3):
        driver.step()
    driver.backend.embed_failure = RuntimeError("embedding failed")
    until_done(driver, [failing, kept], stream)
    with pytest.raises(RuntimeError, match="embedding failed"):
        failing.result()
    assert kept.result() == [fake_vector(t) for t in second]
    assert stream.error is None and not stream.ended  # the stream never noticed
    driver.check()


def test_an_engine_fault_fails_a_partly_embedded_request(driver: EngineDriver) -> None:
    stream = decoding(driver)
    task = driver.embed(inputs(64))
    for _ in range(3):
        driver.step()
    assert 0 < sum(embed_calls(driver)) < 64 and not task.done()
    driver.submit("another", 5)
    driver.backend.fault_armed = True  # admitting it places it: that cache call fails
    driver.step()
    until_done(driver, [task], stream)
    with pytest.raises(EngineFailed):
        task.result()
    assert not driver.engine._embeds_in_hand
    driver.drain()
    assert isinstance(stream.error, EngineFailed)


def test_stopping_fails_a_partly_embedded_request(driver: EngineDriver) -> None:
    decoding(driver)
    task = driver.embed(inputs(64))
    for _ in range(3):
        driver.step()
    driver.engine._fail_waiting(EngineNotReady("the server is stopping"))
    until_done(driver, [task], None)
    with pytest.raises(EngineNotReady):
        task.result()


# -- the slice and the pacer on their own ------------------------------------------------------


def jobs(*sizes: list[int]) -> list[EmbedJob]:
    loop = asyncio.new_event_loop()
    try:
        return [
            EmbedJob([[0] * n for n in lengths], loop.create_future(), loop) for lengths in sizes
        ]
    finally:
        loop.close()


def test_a_slice_takes_inputs_in_order_while_they_fit_and_at_least_one() -> None:
    a, b = jobs([3, 3, 3], [2, 5])
    assert next_slice([a, b], None) == [(a, 3), (b, 2)]
    assert next_slice([a, b], 7) == [(a, 2)]
    assert next_slice([a, b], 1) == [(a, 1)]  # one input even past the budget
    a.vectors = [[0.0]] * 3  # all of `a` embedded
    assert next_slice([a, b], 7) == [(b, 2)]
    assert next_slice([a, b], 6) == [(b, 1)]
    b.ended = True
    assert next_slice([a, b], 100) == []


def test_a_slice_never_skips_an_input_of_an_unfinished_job() -> None:
    # A later job's small input must not jump ahead of an earlier job's large one.
    a, b = jobs([2, 9], [1])
    assert next_slice([a, b], 5) == [(a, 1)]


def test_the_pacer_fits_a_step_s_worth_of_tokens() -> None:
    pacer = EmbedPacer()
    assert pacer.tokens_per_step() == 0 and pacer.budget(5) == 0  # nothing measured: one input
    pacer.stepped(0.010)
    pacer.embedded(100, 0.050)
    assert pacer.tokens_per_step() == 20
    pacer.embedded(0, 1.0)  # an empty slice says nothing
    assert pacer.tokens_per_step() == 20
    for _ in range(40):  # the averages follow a change of load
        pacer.stepped(0.020)
    assert 39 <= pacer.tokens_per_step() <= 40


def test_the_pacer_lets_a_long_input_go_once_in_so_many_steps_or_when_nothing_decodes() -> None:
    pacer = EmbedPacer()
    pacer.stepped(0.010)
    pacer.embedded(100, 0.050)
    assert pacer.budget(20) == 20
    assert pacer.budget(21) == 20  # the first long one goes
    for _ in range(LONG_EVERY - 1):
        pacer.stepped(0.010)
        assert pacer.budget(21) is None
        assert pacer.budget(5) == 20  # inputs that fit still go
    pacer.stepped(0.010)
    assert pacer.budget(21) == 20
    pacer.stepped(None)  # the streams wait on their readers
    assert pacer.budget(21) == 20 and pacer.budget(21) == 20
