"""Writes in flight while the next pages decode (issue 16): bounded, and a
checkpoint advances only once every batch before it was accepted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
import structlog

from costpipe.components import ComponentConfig, Sink
from costpipe.engine.inflight import OrderedWrites
from costpipe.engine.pipeline import Outcome, PassResult, Pipeline
from costpipe.engine.spool import SpoolingSink
from costpipe.engine.state import Checkpoints
from costpipe.errors import SinkUnavailableError
from costpipe.records import CostRecord, Window
from costpipe.testing.static import StaticProvider, StaticProviderConfig

from .conftest import make_context

START = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
WINDOW = Window(START, START + 4 * DAY)
HANG = 120  # seconds after which a wait is a hang, not slow IO


class HeldConfig(ComponentConfig):
    pass


class HeldSink(Sink[HeldConfig]):
    """Each write waits until the test answers it (accept or fail)."""

    name: ClassVar[str] = "held"
    config_model = HeldConfig

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(HeldConfig(), make_context(tmp_path, "held.0"))
        self.answers: list[asyncio.Future[None]] = []
        self.batches: list[Sequence[CostRecord]] = []
        self.running = 0
        self.most_running = 0

    async def write(self, records: Sequence[CostRecord]) -> None:
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        self.batches.append(records)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await answer
        finally:
            self.running -= 1


async def until(
    condition: Callable[[], bool], task: asyncio.Task[list[PassResult]] | None = None
) -> None:
    """Let the loop run until *condition* holds (the spool's file IO runs in a
    thread, so this polls; no clock decides an outcome).

    The timeout only turns a hang into a failure: it is generous because the
    spool fsyncs, and one fsync under other disk traffic took over 10 s in CI.
    A pass that ended before *condition* held fails at once, with its result.
    """
    async with asyncio.timeout(HANG):
        while not condition():  # polled: a thread's IO sets no event
            if task is not None and task.done():
                raise AssertionError(f"the pass ended first: {task.result()!r}")
            await asyncio.sleep(0.001)


async def settle() -> None:
    for _ in range(200):
        await asyncio.sleep(0)


def one_batch_per_day(tmp_path: Path) -> StaticProvider:
    config = StaticProviderConfig(rows_per_hour=1, batch_size=24)
    return StaticProvider(config, make_context(tmp_path, "static.a"))


def start_pass(
    tmp_path: Path, sink: Sink[HeldConfig] | SpoolingSink, in_flight: int = 2
) -> tuple[Pipeline, asyncio.Task[list[PassResult]]]:
    engine = Pipeline(
        [],
        [sink],
        Checkpoints(tmp_path / "checkpoints.json"),
        chunk=DAY,
        writes_in_flight=in_flight,
    )
    task = asyncio.create_task(engine.run({one_batch_per_day(tmp_path): WINDOW}))
    return engine, task


async def test_the_next_piece_is_written_while_the_previous_one_is(tmp_path: Path) -> None:
    sink = HeldSink(tmp_path)
    engine, task = start_pass(tmp_path, sink, in_flight=2)
    await until(lambda: len(sink.answers) == 2, task)
    await settle()
    # Two pieces' batches in flight at once, and no third: the pass waits (backpressure).
    assert (sink.running, len(sink.answers)) == (2, 2)
    assert engine.checkpoints.get("static.a") is None
    # The second piece's batch is accepted first: its checkpoint must still wait.
    sink.answers[1].set_result(None)
    await until(lambda: len(sink.answers) == 3, task)
    assert engine.checkpoints.get("static.a") is None
    sink.answers[0].set_result(None)
    await until(lambda: engine.checkpoints.get("static.a") == START + 2 * DAY, task)
    await until(lambda: len(sink.answers) == 4, task)
    for answer in sink.answers[2:]:
        answer.set_result(None)
    [result] = await task
    assert result.outcome is Outcome.OK
    assert (result.records, result.batches, result.pieces_done) == (96, 4, 4)
    assert engine.checkpoints.get("static.a") == WINDOW.end
    assert sink.most_running == 2
    assert [b[0].start for b in sink.batches] == [START + i * DAY for i in range(4)]


async def test_one_write_in_flight_is_the_old_behaviour(tmp_path: Path) -> None:
    sink = HeldSink(tmp_path)
    _engine, task = start_pass(tmp_path, sink, in_flight=1)
    for index in range(4):
        await until(lambda count=index + 1: len(sink.answers) == count, task)  # type: ignore[misc]
        await settle()
        assert len(sink.answers) == index + 1
        sink.answers[index].set_result(None)
    [result] = await task
    assert result.outcome is Outcome.OK
    assert sink.most_running == 1


async def test_nothing_behind_a_failed_write_advances(tmp_path: Path) -> None:
    sink = HeldSink(tmp_path)
    engine, task = start_pass(tmp_path, sink, in_flight=2)
    await until(lambda: len(sink.answers) == 2, task)
    sink.answers[0].set_result(None)
    await until(lambda: len(sink.answers) == 3, task)
    assert engine.checkpoints.get("static.a") == START + DAY
    # The third piece's batch is accepted, the second's fails: neither checkpoint moves.
    sink.answers[2].set_result(None)
    sink.answers[1].set_exception(SinkUnavailableError("store gone"))
    [result] = await task
    assert result.outcome is Outcome.FAILED
    assert "store gone" in (result.error or "")
    assert result.pieces_done == 1
    assert len(sink.answers) == 3  # no page fetched after the failure was seen
    assert Checkpoints(tmp_path / "checkpoints.json").get("static.a") == START + DAY


async def test_a_write_failing_while_the_pass_stops_is_not_success(tmp_path: Path) -> None:
    sink = HeldSink(tmp_path)
    engine, task = start_pass(tmp_path, sink, in_flight=2)
    await until(lambda: len(sink.answers) == 2, task)
    engine.stop_requested.set()
    await settle()
    sink.answers[0].set_result(None)
    sink.answers[1].set_exception(SinkUnavailableError("store gone"))
    [result] = await task
    assert result.outcome is Outcome.FAILED
    assert engine.checkpoints.get("static.a") == START + DAY


@pytest.mark.parametrize("spool_room", ["fits", "full"])
async def test_a_failed_write_spools_or_fails_the_pass(tmp_path: Path, spool_room: str) -> None:
    held = HeldSink(tmp_path)
    spool = SpoolingSink(
        held,
        tmp_path / "spool",
        max_bytes=10**7 if spool_room == "fits" else 1024,
        log=structlog.get_logger("test"),
    )
    engine, task = start_pass(tmp_path, spool, in_flight=2)
    await until(lambda: len(held.answers) == 2, task)
    held.answers[1].set_exception(SinkUnavailableError("store gone"))
    if spool_room == "fits":
        await until(lambda: spool.pending_batches == 1, task)
    await settle()
    held.answers[0].set_result(None)
    # Once a batch is spooled, the later ones queue behind it in the spool (order).
    [result] = await task
    if spool_room == "fits":
        assert result.outcome is Outcome.OK
        assert spool.pending_batches == 3
        assert engine.checkpoints.get("static.a") == WINDOW.end
    else:
        assert result.outcome is Outcome.FAILED
        assert "spool is full" in (result.error or "")
        assert engine.checkpoints.get("static.a") == START + DAY


async def test_ordered_writes_refuse_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OrderedWrites(0)


async def test_a_checkpoint_that_cannot_be_saved_stops_the_actions_behind_it() -> None:
    writes = OrderedWrites(2)
    done: list[str] = []

    async def write() -> None:
        await asyncio.sleep(0)

    def broken() -> None:
        raise OSError("disk full")

    await writes.submit(write())
    writes.then(broken)
    writes.then(lambda: done.append("later"))
    with pytest.raises(OSError, match="disk full"):
        await writes.drain()
    assert done == []
