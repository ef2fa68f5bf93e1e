"""Dashboard: a control change to the updated figures in Chromium, over an
InfluxDB sink holding about 1 million points across 90 days, against the raw
InfluxQL of the same aggregations measured in the same run.

Data: :func:`bench.queries.fill` (the same filler and sizes as the queries
section) into a database of its own. The page is served by
:class:`~costpipe.dashboard.server.DashboardServer` (configuration from
:func:`~costpipe.config.settings.parse_config`, Europe/Berlin, clock at
:data:`bench.queries.NOW`) in a :class:`BackgroundDashboard` thread and driven
by Debian's Chromium through Playwright (``playwright install`` is never run).

Changes timed, on the estimated basis (the hourly rows), daily granularity:

* **group_by**: "Last 30 days", the group-by cycled through model, project,
  user, provider;
* **range_30d** / **range_90d**: the date range switched between
  "Last 30 days" and "Last 90 days" (grouped by provider): the 90-day view
  aggregates every point of the filled database.

A **browser** sample runs from ``select_option`` until the range line carries
the next render generation and the table shows the new group (one held
document patch, so the total, charts and table arrive together); Playwright
waits for it by animation frame, not by ``expect``'s 100 ms polling.

The **raw** baseline of a change is every InfluxQL statement the page's
:func:`~costpipe.dashboard.viewmodel.compute_view` sends for the new state,
recorded once through a loopback proxy and then replayed concurrently (as
``compute_view`` sends them) with plain aiohttp, reading the bodies only: the
server's time plus the transfer. Raw and browser samples alternate, so load
changes hit both; **view** is ``compute_view`` through the reader (query
building, JSON decoding, Decimal sums), without the browser; **view_cached**
is ``compute_view`` through one :class:`~costpipe.query.cache.CachingReader`
kept across the changes (unchanged statements are not asked again).

Where a browser sample's time goes, from the page's own clock (a script
installed before Bokeh's wraps its websocket and watches the render generation
frame by frame): **page_client** from the select to the change message leaving
the page, **page_server** from there to the last message of the answer (the
server's ``compute_view`` and Panel work plus loopback transfer), and
**page_browser** from that message to the frame showing the new figures;
**page_received_kib** is what the answer weighed. **raw_one_request** replays the
same statements ``;``-joined in one ``/query`` request, to show whether batching
a view's statements into one request would pay.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from playwright.sync_api import Page, sync_playwright

from bench import queries
from bench.common import Bench, ratio, spread
from costpipe.components import ComponentContext
from costpipe.config.settings import Settings, parse_config
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.dashboard.viewmodel import GROUP_LABELS, Selection, compute_view
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import Basis, CostReader
from costpipe.query.cache import CachingReader
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.testing.influxd import InfluxdServer

__all__ = ["run"]

T = TypeVar("T")

DATABASE = "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
GROUPS = ("model", "project_id", "user_id", "provider")
TIMEOUT_MS = 120_000


def settings_for(url: str, state_dir: Path) -> Settings:
    """The configuration a user would write: one InfluxDB sink, Berlin time."""
    _pm, registry = build_plugin_manager(entry_points=False)
    document = {
        "pipeline": {"timezone": queries.TIMEZONE, "state_dir": str(state_dir)},
        "sinks": {"influxdb": [{"name": "bench", "url": url, "database": DATABASE}]},
    }
    return parse_config(document, registry, env={})


class LoopThread:
    """An asyncio loop in a daemon thread: Playwright's sync API owns the
    caller's thread, so the raw queries and ``compute_view`` run here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=300)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class Recorder:
    """A loopback proxy in front of influxd that records the InfluxQL it forwards."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.statements: list[str] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def _query(self, request: web.Request) -> web.Response:
        assert self._session is not None
        self.statements.append(request.query["q"])
        async with self._session.request(
            request.method, f"{self.upstream}/query", params=request.query
        ) as response:
            body = await response.read()
            return web.Response(body=body, status=response.status, content_type="application/json")

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/query", self._query)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True, slots=True)
class Change:
    """One control change: the figure it feeds and the page state it leads to."""

    figure: str
    selection: Selection


def changes(rounds: int) -> list[Change]:
    """Per round: the four group-bys on 30 days, then 90 days / 30 days twice."""
    base = Selection(Preset.LAST_30_DAYS, group_by="provider", basis=Basis.ESTIMATED)
    plan: list[Change] = []
    for _ in range(rounds):
        for by in GROUPS:
            plan.append(Change("group_by", Selection(base.preset, by, basis=Basis.ESTIMATED)))
        # The round ends grouped by provider; the range changes keep that group.
        # Twice per round, so that each range figure has as many samples as group_by's half.
        for figure, preset in 2 * (
            ("range_90d", Preset.LAST_90_DAYS),
            ("range_30d", base.preset),
        ):
            plan.append(Change(figure, Selection(preset, "provider", basis=Basis.ESTIMATED)))
    return plan


#: Installed before the page's scripts: timestamps (``performance.now()``) and sizes
#: of Bokeh's websocket traffic, and a per-frame watch of the render generation
#: (inside Panel's shadow roots), so a change splits into client, server and browser time.
TIMING_SCRIPT = """
(() => {
  const t = (window.__cpTiming = {sent: [], received: [], rendered: {}});
  const Native = window.WebSocket;
  class Timed extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const data = event.data;
        const size = typeof data === "string" ? data.length : (data.byteLength ?? data.size ?? 0);
        t.received.push([performance.now(), size]);
      });
    }
    send(data) {
      t.sent.push(performance.now());
      return super.send(data);
    }
  }
  window.WebSocket = Timed;
  const find = (root) => {
    const hit = root.querySelector('[data-testid="range"]');
    if (hit) return hit;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) {
        const inner = find(el.shadowRoot);
        if (inner) return inner;
      }
    }
    return null;
  };
  const watch = () => {
    const el = find(document);
    const generation = el && el.getAttribute("data-generation");
    if (generation && !(generation in t.rendered)) t.rendered[generation] = performance.now();
    requestAnimationFrame(watch);
  };
  requestAnimationFrame(watch);
})();
"""
SPLIT_SCRIPT = """
([began, generation]) => {
  const t = window.__cpTiming;
  const rendered = t.rendered[String(generation)];
  const sent = t.sent.find((x) => x >= began);
  const received = t.received.filter(([at]) => at >= began && at <= rendered);
  const last = received.length ? received[received.length - 1][0] : rendered;
  return {
    client: (sent ?? began) - began,
    server: last - (sent ?? began),
    browser: rendered - last,
    bytes: received.reduce((sum, [, size]) => sum + size, 0),
  };
}
"""


@dataclass(frozen=True, slots=True)
class Split:
    """Where one change's time went, from the page's own clock (ms, bytes)."""

    total_ms: float
    client_ms: float
    """From the select to Bokeh sending the change over the websocket."""
    server_ms: float
    """From that message to the last message of the answer: the server's
    compute_view and Panel work, plus loopback transfer."""
    browser_ms: float
    """From the last message to the frame that shows the new generation."""
    received_bytes: float


class Driver:
    """The page's controls and the wait for the render that follows a change."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.generation = 0
        self._range = page.locator("select", has=page.locator("option", has_text="Last 30 days"))
        self._group = page.locator("select", has=page.locator("option", has_text="Project"))

    def rendered(self, selection: Selection) -> None:
        """Return once the render after the last change is on the page."""
        self.generation += 1
        state = f'[data-testid="range"][data-generation="{self.generation}"]'
        # Locator waits poll by animation frame; ``expect`` polls at 100 ms and up.
        self.page.locator(state).wait_for(state="attached", timeout=TIMEOUT_MS)
        header = self.page.get_by_test_id("breakdown").locator("th").first
        text = header.text_content(timeout=TIMEOUT_MS)
        if text != GROUP_LABELS[selection.group_by]:
            raise RuntimeError(f"table shows {text!r}, expected {selection.group_by!r}")

    def prepare(self) -> None:
        """From the page's defaults to 30 days, estimated, by provider."""
        self.rendered(Selection())
        self._range.select_option(label=Preset.LAST_30_DAYS.label)
        self.rendered(Selection())
        self.page.get_by_role("button", name="Estimated").click()
        self.rendered(Selection())

    def apply(self, change: Change) -> Split:
        """Make *change* in the page; the time until its figures are shown, split."""
        page_began = self.page.evaluate("performance.now()")
        began = time.perf_counter()
        if change.figure == "group_by":
            self._group.select_option(label=GROUP_LABELS[change.selection.group_by])
        else:
            self._range.select_option(label=change.selection.preset.label)
        self.rendered(change.selection)
        total = (time.perf_counter() - began) * 1000
        split = self.page.evaluate(SPLIT_SCRIPT, [page_began, self.generation])
        return Split(
            total,
            split["client"],
            split["server"],
            split["browser"],
            split["bytes"],
        )


async def record(recorder: Recorder, selection: Selection, state: Path) -> list[str]:
    """The statements ``compute_view`` sends for *selection* (tag keys already known)."""
    context = ComponentContext("influxdb.rec", state)
    sink = InfluxDBSink(InfluxDBConfig(url=recorder.url, database=DATABASE), context)
    await sink.start()
    try:
        reader = sink.reader()
        await compute_view(reader, selection, now=queries.NOW, timezone=queries.TIMEZONE)
        recorder.statements.clear()
        await compute_view(reader, selection, now=queries.NOW, timezone=queries.TIMEZONE)
        return list(recorder.statements)
    finally:
        await sink.close()


async def raw_ms(
    session: aiohttp.ClientSession, url: str, statements: list[str], *, one_request: bool = False
) -> float:
    """The statements replayed concurrently, or ``;``-joined in one request."""

    async def one(statement: str) -> None:
        params = {"db": DATABASE, "epoch": "ns", "q": statement}
        async with session.get(f"{url}/query", params=params) as response:
            await response.read()

    began = time.perf_counter()
    if one_request:
        await one(";".join(statements))
    else:
        await asyncio.gather(*(one(s) for s in statements))
    return (time.perf_counter() - began) * 1000


async def view_ms(reader: CostReader, selection: Selection) -> float:
    began = time.perf_counter()
    await compute_view(reader, selection, now=queries.NOW, timezone=queries.TIMEZONE)
    return (time.perf_counter() - began) * 1000


def measure(server: InfluxdServer, state: Path, plan: list[Change], bench: Bench) -> None:
    """The browser, raw and view samples, alternating, in this (non-async) thread."""
    helper = LoopThread()
    recorder = Recorder(server.url)
    sink = InfluxDBSink(
        InfluxDBConfig(url=server.url, database=DATABASE), ComponentContext("influxdb.v", state)
    )
    samples: dict[str, list[float]] = {}
    try:
        helper.run(recorder.start())
        helper.run(sink.start())
        session = helper.run(_session())
        recorded = {
            (c.selection.preset, c.selection.group_by): helper.run(
                record(recorder, c.selection, state / "recorder")
            )
            for c in plan
        }
        bench.params["statements_per_change"] = sorted({len(s) for s in recorded.values()})
        reader = sink.reader()
        settings = settings_for(server.url, state / "dashboard")
        dashboard = DashboardServer(settings, port=0, clock=lambda: queries.NOW)
        with BackgroundDashboard(dashboard) as port, sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(TIMING_SCRIPT)
            page.goto(f"http://127.0.0.1:{port}/")
            controls = Driver(page)
            controls.prepare()
            # The clock is fixed, so "unchanged" is exact; max_age only has to outlast the run.
            cached = CachingReader(reader, max_age=3600)
            helper.run(view_ms(cached, plan[-1].selection))  # the page's state before the plan
            for change in plan:
                statements = recorded[(change.selection.preset, change.selection.group_by)]
                split = controls.apply(change)
                for part in ("total", "client", "server", "browser"):
                    value = getattr(split, f"{part}_ms")
                    samples.setdefault(f"{change.figure}_page_{part}", []).append(value)
                samples.setdefault(f"{change.figure}_bytes", []).append(split.received_bytes)
                samples.setdefault(f"{change.figure}_raw", []).append(
                    helper.run(raw_ms(session, server.url, statements))
                )
                samples.setdefault(f"{change.figure}_raw_one_request", []).append(
                    helper.run(raw_ms(session, server.url, statements, one_request=True))
                )
                samples.setdefault(f"{change.figure}_view", []).append(
                    helper.run(view_ms(reader, change.selection))
                )
                samples.setdefault(f"{change.figure}_view_cached", []).append(
                    helper.run(view_ms(cached, change.selection))
                )
            browser.close()
        helper.run(session.close())
    finally:
        helper.run(sink.close())
        helper.run(recorder.close())
        helper.close()
    for figure in ("group_by", "range_30d", "range_90d"):
        browser_ms, raw = samples[f"{figure}_page_total"], samples[f"{figure}_raw"]
        view, cached = samples[f"{figure}_view"], samples[f"{figure}_view_cached"]
        bench.figures[f"{figure}_browser_ms"] = spread(browser_ms, "ms")
        for part in ("client", "server", "browser"):
            bench.figures[f"{figure}_page_{part}_ms"] = spread(
                samples[f"{figure}_page_{part}"], "ms"
            )
        bench.figures[f"{figure}_page_received_kib"] = spread(
            [b / 1024 for b in samples[f"{figure}_bytes"]], "KiB"
        )
        bench.figures[f"{figure}_view_ms"] = spread(view, "ms")
        bench.figures[f"{figure}_view_cached_ms"] = spread(cached, "ms")
        bench.figures[f"{figure}_raw_influxql_ms"] = spread(raw, "ms")
        one_request = samples[f"{figure}_raw_one_request"]
        bench.figures[f"{figure}_raw_one_request_ms"] = spread(one_request, "ms")
        bench.figures[f"{figure}_one_request_vs_concurrent"] = ratio(one_request, raw)
        bench.figures[f"{figure}_browser_vs_raw"] = ratio(browser_ms, raw)
        bench.figures[f"{figure}_view_vs_raw"] = ratio(view, raw)
        bench.figures[f"{figure}_view_cached_vs_raw"] = ratio(cached, raw)
        bench.goal(
            f"{figure}: browser <= 1.2 x raw InfluxQL",
            statistics.median(bench.figures[f"{figure}_browser_vs_raw"]["runs"]),
            "<= 1.2",
            lambda v: v <= 1.2,
        )


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


async def run(server: InfluxdServer, *, quick: bool, runs: int) -> Bench:
    days, streams = (7, 20) if quick else (90, 463)
    bench = Bench(
        "dashboard",
        params={"days": days, "timezone": queries.TIMEZONE, "granularity": "day", "rounds": runs},
    )
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        sink = InfluxDBSink(
            InfluxDBConfig(url=server.url, database=DATABASE, batch_size=queries.BATCH),
            ComponentContext("influxdb.fill", state),
        )
        await sink.start()
        try:
            began = time.perf_counter()
            bench.params["points"] = await queries.fill([sink], days, streams)
            bench.params["fill_seconds"] = round(time.perf_counter() - began, 1)
        finally:
            await sink.close()
        await asyncio.to_thread(measure, server, state, changes(runs), bench)
    bench.notes.append(
        "browser: select_option until the next render generation and the new table header"
        " (Chromium, Playwright); raw: every InfluxQL statement of the new view, replayed"
        " concurrently with aiohttp; view: compute_view through the InfluxDB reader;"
        " view_cached: the same through one CachingReader kept across the changes;"
        " page_client/server/browser: the browser sample split by the page's clock at"
        " the websocket (see bench/dashboard.py). range_90d: 'Last 90 days' covers every"
        " filled point."
    )
    return bench
