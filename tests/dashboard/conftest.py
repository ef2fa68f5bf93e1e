"""Shared fixtures of the dashboard tests: a store filled with realistic spend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Route,
    expect,
    sync_playwright,
)

from costpipe.components import ComponentContext
from costpipe.config.settings import ComponentSpec
from costpipe.dashboard.sample import sample_records
from costpipe.records import CostRecord
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.memory import MemorySink
from tests.conftest import chromium_or_skip

# A page refresh is several store queries and two Bokeh plots; on a busy CI
# machine that can take longer than Playwright's default 5 s.
expect.set_options(timeout=20_000)

#: The dashboard's "now" in every test: a Wednesday afternoon in Berlin.
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"


def open_choices(box: Locator, count: int | None = None) -> list[str]:
    """Open the Choices.js *box* and return the text of its options as shown
    (*count* of them, or any number when None).

    A click that lands while Panel re-renders the widget (after a basis or
    group-by change) can leave the dropdown closed, and a closed dropdown is
    ``visibility: hidden``, whose ``innerText`` is empty: so this clicks again
    until the list is shown and every option reads as text.
    """
    dropdown = box.locator(".choices__list--dropdown")
    options = box.locator(".choices__item--choice")
    deadline = time.monotonic() + 20
    while True:
        if not dropdown.is_visible():
            box.click()
        texts = options.all_inner_texts() if dropdown.is_visible() else []
        if texts and all(texts) and count in (None, len(texts)):
            return texts
        if time.monotonic() > deadline:
            expect(dropdown).to_be_visible()
            if count is not None:
                expect(options).to_have_count(count)
            return texts
        time.sleep(0.2)


def on_basis(records: Iterable[CostRecord], basis: str) -> list[CostRecord]:
    """The rows a query on *basis* sums. ``best``: allocated rows, and estimated
    rows of a provider account's UTC day that has no allocated row."""
    records = list(records)
    if basis != "best":
        return [r for r in records if r.basis == basis]
    billed = {(r.provider, r.account, r.start.date()) for r in records if r.basis == "allocated"}
    return [
        r
        for r in records
        if r.basis == "allocated"
        or (r.basis == "estimated" and (r.provider, r.account, r.start.date()) not in billed)
    ]


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
            for r in on_basis(records, basis)
            if start <= r.start < end and all(r.dimension(d) in v for d, v in filters.items())
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


@pytest.fixture(scope="session")
def memory_sink(records: list[CostRecord]) -> MemorySink:
    """:func:`records` in the in-memory fake, filled once per session instead
    of once per test: tests only read it; a test that writes makes its own
    ``MemorySink``."""
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


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def leaves_loopback(url: str) -> bool:
    """Whether the browser would send *url* to another machine (blob:/data: stay local)."""
    scheme = url.partition(":")[0]
    if scheme in ("blob", "data", "about"):
        return False
    return urlsplit(url).hostname not in LOOPBACK_HOSTS


@contextmanager
def loopback_only(context: BrowserContext, offsite: list[str] | None = None) -> Iterator[list[str]]:
    """Block, and list, every request of *context* that would leave loopback.

    costpipe runs on private networks and offline: the page, the login page and
    every asset must come from the costpipe process. A blocked request is
    recorded and the test fails at the end of the block, naming the URLs.
    """
    offsite = [] if offsite is None else offsite

    def refuse(route: Route) -> None:
        offsite.append(route.request.url)
        route.abort("blockedbyclient")

    context.route(leaves_loopback, refuse)
    context.on(
        "websocket",
        lambda socket: offsite.append(socket.url) if leaves_loopback(socket.url) else None,
    )
    yield offsite
    assert offsite == [], f"the page asked another host for {offsite}"


@pytest.fixture
def offsite_requests() -> list[str]:
    """The requests :func:`page` blocked because they would leave loopback."""
    return []


@pytest.fixture
def page(chromium: Browser, offsite_requests: list[str]) -> Iterator[Page]:
    """A fresh context whose requests may only go to loopback (see :func:`loopback_only`)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    with loopback_only(context, offsite_requests):
        yield context.new_page()
        context.close()
