"""The engine with in-process fake providers and sinks (no network)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

from costpipe.components import ComponentConfig, ComponentContext, Provider
from costpipe.engine.pipeline import Outcome, Pipeline, scheduled_windows
from costpipe.engine.state import Checkpoints
from costpipe.providers.http.paging import FetchBudget
from costpipe.providers.http.retry import Timer
from costpipe.records import CostRecord, Window
from costpipe.testing.static import StaticProvider, StaticProviderConfig, static_records

from .conftest import DictSink, DictSinkConfig, make_context

START = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def static(tmp_path: Path, name: str, **options: object) -> StaticProvider:
    return StaticProvider(StaticProviderConfig(**options), make_context(tmp_path, name))  # type: ignore[arg-type]


def dict_sink(tmp_path: Path, **options: object) -> DictSink:
    return DictSink(DictSinkConfig(**options), make_context(tmp_path, "dict.0"))  # type: ignore[arg-type]


def pipeline(tmp_path: Path, sinks: Sequence[DictSink], chunk: timedelta = DAY) -> Pipeline:
    return Pipeline([], sinks, Checkpoints(tmp_path / "checkpoints.json"), chunk=chunk)


class RendezvousConfig(ComponentConfig):
    pass


class RendezvousProvider(Provider[RendezvousConfig]):
    """Yields its first batch only once every peer has started fetching, so a
    sequential engine would time out: this proves the providers overlap."""

    name: ClassVar[str] = "rendezvous"
    config_model = RendezvousConfig
    started: ClassVar[dict[str, asyncio.Event]] = {}

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        self.started[self.instance].set()
        async with asyncio.timeout(5):
            for event in self.started.values():
                await event.wait()
        yield static_records(window, self.instance, 1, Decimal("0.5"))


async def test_providers_run_concurrently(tmp_path: Path) -> None:
    names = ["rendezvous.a", "rendezvous.b", "rendezvous.c"]
    RendezvousProvider.started = {n: asyncio.Event() for n in names}
    providers = [RendezvousProvider(RendezvousConfig(), make_context(tmp_path, n)) for n in names]
    sink = dict_sink(tmp_path)
    window = Window(START, START + timedelta(hours=2))
    results = await pipeline(tmp_path, [sink]).run(dict.fromkeys(providers, window))
    assert [Outcome.OK] * 3 == [r.outcome for r in results]
    assert len(sink.rows) == 6


async def test_a_failing_provider_does_not_affect_the_others(tmp_path: Path) -> None:
    healthy = static(tmp_path, "static.ok")
    refused = static(tmp_path, "static.auth", fail="auth")
    flaky = static(tmp_path, "static.flaky", fail="transient", fail_after_batches=1, batch_size=5)
    crashing = static(tmp_path, "static.crash", fail="crash")
    sink = dict_sink(tmp_path)
    window = Window(START, START + DAY)
    engine = pipeline(tmp_path, [sink])
    results = {
        r.instance: r
        for r in await engine.run(dict.fromkeys([healthy, refused, flaky, crashing], window))
    }
    assert results["static.ok"].outcome is Outcome.OK
    assert results["static.auth"].outcome is Outcome.AUTH
    assert results["static.flaky"].outcome is Outcome.FAILED
    assert results["static.crash"].outcome is Outcome.FAILED
    assert "crashed on purpose" in (results["static.crash"].error or "")
    healthy_rows = [r for r in sink.rows.values() if r.account == "static.ok"]
    assert len(healthy_rows) == 24 * 3
    assert engine.checkpoints.get("static.ok") == window.end
    assert engine.checkpoints.get("static.auth") is None


async def test_checkpoints_advance_only_after_every_sink_accepted(tmp_path: Path) -> None:
    provider = static(tmp_path, "static.a", rows_per_hour=1, batch_size=24)
    good = dict_sink(tmp_path)
    # One batch per day: the second sink accepts the first two days only.
    failing = dict_sink(tmp_path, fail_after_writes=2)
    engine = pipeline(tmp_path, [good, failing])
    window = Window(START, START + 4 * DAY)
    [result] = await engine.run({provider: window})
    assert result.outcome is Outcome.FAILED
    assert engine.checkpoints.get("static.a") == START + 2 * DAY
    # The checkpoint is durable: a new process sees the same value.
    assert Checkpoints(tmp_path / "checkpoints.json").get("static.a") == START + 2 * DAY


async def test_re_running_a_window_does_not_duplicate(tmp_path: Path) -> None:
    provider = static(tmp_path, "static.a")
    sink = dict_sink(tmp_path)
    window = Window(START, START + 3 * DAY)
    engine = pipeline(tmp_path, [sink])
    await engine.run({provider: window})
    first_total, first_count = sink.total(), len(sink.rows)
    await engine.run({provider: window})
    assert (first_total, first_count) == (sink.total(), len(sink.rows))
    expected = sum(
        (r.cost_usd for r in static_records(window, "static.a", 3, Decimal("0.010001"))), Decimal(0)
    )
    assert expected == sink.total()


async def test_a_stop_mid_run_loses_nothing(tmp_path: Path) -> None:
    """Stop after a few batches, then run again: the sink holds every record
    exactly once and the checkpoint says where to resume."""
    window = Window(START, START + 6 * DAY)
    provider = static(tmp_path, "static.a", batch_size=10, page_delay=0.001)
    sink = dict_sink(tmp_path)
    engine = pipeline(tmp_path, [sink])

    def stop_soon(instance: str, done: int, total: int, records: int) -> None:
        if done == 2:
            engine.stop_requested.set()

    engine.progress = stop_soon
    [first] = await engine.run({provider: window}, backfill=True)
    assert first.outcome is Outcome.STOPPED
    assert 0 < len(sink.rows) < 6 * 24 * 3
    resumed_from = engine.checkpoints.backfill_progress("static.a", window.start, window.end)
    assert resumed_from == START + 2 * DAY

    engine.stop_requested.clear()
    engine.progress = None
    provider.fetched_windows.clear()
    [second] = await engine.run({provider: window}, backfill=True)
    assert second.outcome is Outcome.OK
    assert provider.fetched_windows[0].start == START + 2 * DAY
    assert len(sink.rows) == 6 * 24 * 3
    assert engine.checkpoints.backfill_progress("static.a", window.start, window.end) is None


async def test_in_flight_requests_are_bounded(tmp_path: Path) -> None:
    """Five providers share two request slots: two requests overlap (the providers
    run concurrently), and never three (the bound holds)."""
    slots = asyncio.Semaphore(2)
    providers = []
    for n in range(5):
        ctx = make_context(tmp_path, f"static.{n}")
        ctx.request_slots = slots
        providers.append(StaticProvider(StaticProviderConfig(batch_size=5, page_delay=0.002), ctx))
    StaticProvider.peak_in_flight = 0
    sink = dict_sink(tmp_path)
    await pipeline(tmp_path, [sink]).run(dict.fromkeys(providers, Window(START, START + DAY)))
    assert 2 == StaticProvider.peak_in_flight
    assert 0 == StaticProvider.in_flight


def test_scheduled_windows_reach_back_to_an_old_checkpoint(tmp_path: Path) -> None:
    checkpoints = Checkpoints(tmp_path / "c.json")
    recent, stale = static(tmp_path, "static.recent"), static(tmp_path, "static.stale")
    now = START + 10 * DAY
    checkpoints.advance("static.recent", now - timedelta(hours=1))
    checkpoints.advance("static.stale", now - 5 * DAY)
    windows = scheduled_windows([recent, stale], checkpoints, now, timedelta(hours=48))
    assert windows[recent] == Window(now - timedelta(hours=48), now)
    assert windows[stale] == Window(now - 5 * DAY, now)


class EndlessConfig(ComponentConfig):
    hang: bool = False
    """Wait forever inside the first page instead of paging."""


class EndlessProvider(Provider[EndlessConfig]):
    """A hostile provider: ``has_more`` forever with no records (an empty batch
    per page), or a page that never answers."""

    name: ClassVar[str] = "endless"
    config_model = EndlessConfig

    def __init__(self, config: EndlessConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.pages_wanted = 0
        self.reached = asyncio.Event()
        """Set once ``pages_wanted`` pages were fetched."""

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        if self.config.hang:
            await asyncio.Event().wait()
        while True:
            self.pages_fetched += 1
            if self.pages_fetched == self.pages_wanted:
                self.reached.set()
            await asyncio.sleep(0)
            yield []


class BoundedEndlessProvider(EndlessProvider):
    """Endless paging inside the providers' real fetch bounds (``FetchBudget``);
    its clock advances ten minutes per page, so the time bound needs no waiting."""

    name: ClassVar[str] = "bounded"
    max_pages = 50
    max_duration = timedelta(days=365)

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        ticks = itertools.count(0, 600)
        budget = FetchBudget(
            self.instance,
            max_pages=self.max_pages,
            max_duration=self.max_duration,
            timer=Timer(monotonic=lambda: float(next(ticks))),
        )
        number = 0
        async for batch in super().fetch(window):
            number += 1
            budget.before_page("https://api.example/v1/usage", number)
            yield batch


async def _stop_after_pages(engine: Pipeline, provider: EndlessProvider, pages: int) -> None:
    provider.pages_wanted = pages
    await provider.reached.wait()
    engine.stop_requested.set()


async def test_a_stop_ends_endless_empty_paging(tmp_path: Path) -> None:
    """The stop event is checked on every page, also when pages carry no records
    (it used to be checked only after a non-empty batch: SIGTERM was ignored)."""
    provider = EndlessProvider(EndlessConfig(), make_context(tmp_path, "endless.a"))
    engine = pipeline(tmp_path, [dict_sink(tmp_path)])
    stopper = asyncio.create_task(_stop_after_pages(engine, provider, 100))
    async with asyncio.timeout(30):  # a guard against a hang, not a speed assertion
        [result] = await engine.run({provider: Window(START, START + DAY)})
    await stopper
    assert Outcome.STOPPED is result.outcome
    assert engine.checkpoints.get("endless.a") is None


async def test_a_stop_ends_a_page_that_never_answers(tmp_path: Path) -> None:
    provider = EndlessProvider(EndlessConfig(hang=True), make_context(tmp_path, "endless.hang"))
    engine = pipeline(tmp_path, [dict_sink(tmp_path)])
    running = asyncio.create_task(engine.run({provider: Window(START, START + DAY)}))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not running.done()
    engine.stop_requested.set()
    async with asyncio.timeout(30):
        [result] = await running
    assert Outcome.STOPPED is result.outcome


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({}, "still had more pages after 50 (max_pages)"),
        ({"max_pages": 10**6, "max_duration": timedelta(hours=1)}, "(max_fetch_duration)"),
    ],
)
async def test_a_provider_past_its_fetch_bound_fails_the_pass(
    tmp_path: Path, bounds: dict[str, object], message: str
) -> None:
    provider = BoundedEndlessProvider(EndlessConfig(), make_context(tmp_path, "bounded.a"))
    for name, value in bounds.items():
        setattr(provider, name, value)
    engine = pipeline(tmp_path, [dict_sink(tmp_path)])
    async with asyncio.timeout(30):
        [result] = await engine.run({provider: Window(START, START + DAY)})
    assert Outcome.FAILED is result.outcome
    assert message in (result.error or "")
    assert not result.healthy
    assert engine.checkpoints.get("bounded.a") is None


def test_an_error_is_shown_without_credentials_and_bounded() -> None:
    from costpipe.engine.recorder import ERROR_LIMIT, shown_error

    error = (
        "GET https://admin:hunter2pw@billing.example/v1/costs?api_key=abc failed: "
        + "echo sk-ant-admin01-SECRETSECRET "
        + "x" * 5000
    )
    shown = shown_error(error) or ""
    assert "hunter2pw" not in shown
    assert "SECRETSECRET" not in shown
    assert shown.startswith("GET https://billing.example/v1/costs")
    assert len(shown) <= ERROR_LIMIT + 1
