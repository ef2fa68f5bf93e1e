"""Shared fixtures of the dashboard tests: a store filled with realistic spend."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from costpipe.components import ComponentContext
from costpipe.config.settings import ComponentSpec
from costpipe.dashboard.sample import sample_records
from costpipe.records import CostRecord
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.memory import MemorySink
from tests.conftest import chromium_or_skip

#: The dashboard's "now" in every test: a Wednesday afternoon in Berlin.
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"


def expected_total(
    records: Iterable[CostRecord],
    start: datetime,
    end: datetime,
    basis: str,
    **filters: tuple[str, ...],
) -> Decimal:
    """The spend the page must show, summed independently of any reader."""
    return sum(
        (
            r.cost_usd
            for r in records
            if start <= r.start < end
            and r.basis == basis
            and all(r.dimension(d) in v for d, v in filters.items())
        ),
        Decimal(0),
    )


@pytest.fixture(scope="session")
def records() -> list[CostRecord]:
    return list(sample_records(NOW, days=70, streams_per_hour=10))


def sqlite_spec(path: Path) -> ComponentSpec:
    """``[[sinks.sqlite]] path = ...`` as the config loader would produce it."""
    return ComponentSpec(
        "sinks", "sqlite", "sqlite.0", "sinks.sqlite[0]", SQLiteSink, SQLiteConfig(path=path)
    )


async def fill_sqlite(path: Path, records: list[CostRecord]) -> None:
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.fill", path.parent))
    await sink.start()
    try:
        for index in range(0, len(records), 5000):
            await sink.write(records[index : index + 5000])
    finally:
        await sink.close()


@pytest.fixture(scope="session")
def sqlite_path(records: list[CostRecord], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store holding :func:`records`, written once per session."""
    path = tmp_path_factory.mktemp("store") / "costs.sqlite"
    # In a thread: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill_sqlite(path, records)).result()
    return path


@pytest.fixture
def memory_sink(records: list[CostRecord]) -> MemorySink:
    sink = MemorySink.create()
    sink.add(*records)
    return sink


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless (``playwright install`` is never run).

    Module-scoped on purpose instead of pytest-playwright's session-scoped
    fixtures: Playwright's sync API keeps an event loop running in the main
    thread while it is open, which breaks every pytest-asyncio test collected
    after it. Closing it at the end of the module ends that loop.
    """
    executable = chromium_or_skip()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()
