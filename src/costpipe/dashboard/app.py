"""The Panel page: controls, cards, charts and table over :func:`compute_view`.

This module imports Panel and Bokeh at import time; only
:mod:`costpipe.dashboard.server` (and ``dashboards/costpipe_dashboard.py``)
import it, after checking that the ``dashboard`` extra is installed.

One :class:`Dashboard` is built per browser session. Every control change
schedules :meth:`Dashboard.refresh`, which queries the store once per figure
and then updates the panes (the charts' data in place); a refresh that finishes after a newer
one started is dropped, so quick clicks never show stale figures.

Text from the data reaches the page only through :mod:`~costpipe.dashboard.render`
(Jinja2, autoescaped), :mod:`~costpipe.dashboard.charts` (Bokeh text) and
:mod:`~costpipe.dashboard.controls` (escaped filter labels); no pane renders
Markdown from data. The page loads nothing from another host: the template is
Bootstrap (Panel serves its files) and the CSS names only system fonts.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import panel as pn

from costpipe.config.settings import BudgetConfig, Settings
from costpipe.dashboard import charts, render
from costpipe.dashboard.billing import billing_html, compute_billing
from costpipe.dashboard.controls import Controls, csv_filename
from costpipe.dashboard.formatting import breakdown_csv
from costpipe.dashboard.urlstate import parse_link
from costpipe.dashboard.viewmodel import (
    FILTER_DIMENSIONS,
    DashboardView,
    Selection,
    compute_view,
)
from costpipe.query.api import CostReader
from costpipe.query.cache import CachingReader

__all__ = ["Clock", "Dashboard", "DashboardOptions", "ReaderSource"]

Clock = Callable[[], datetime]
#: A control change within this long of the figures' instant answers from that
#: same instant, so the store is asked only what the change changed (the rest
#: comes from the session's :class:`CachingReader`); reloading the page starts
#: a new session with fresh figures.
SNAPSHOT_MAX_AGE = timedelta(seconds=60)
ReaderSource = Callable[[], Awaitable[CostReader]]

ACCENT = "#0b3d91"


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """What the page needs from the configuration."""

    timezone: str = "UTC"
    budgets: Sequence[BudgetConfig] = ()
    state_dir: Path | None = None
    title: str = "costpipe: AI spend"
    top: int = 8
    initial: Selection = field(default_factory=Selection)

    @classmethod
    def from_settings(cls, settings: Settings) -> DashboardOptions:
        return cls(
            timezone=settings.pipeline.timezone,
            budgets=tuple(settings.budgets),
            state_dir=settings.pipeline.state_dir,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _html(**params: Any) -> pn.pane.HTML:
    return pn.pane.HTML("", stylesheets=[render.stylesheet()], **params)


class Dashboard:
    """One session's widgets and panes; :meth:`refresh` recomputes the figures."""

    def __init__(
        self, reader: ReaderSource, options: DashboardOptions, clock: Clock = _utcnow
    ) -> None:
        self._reader_source = reader
        self._options = options
        self._clock = clock
        self._generation = 0
        self._cache: CachingReader | None = None
        self.view: DashboardView | None = None
        self.controls = Controls(options.initial, options.top, self._csv)
        self.range_line = _html(sizing_mode="stretch_width")
        self.banner = _html(visible=False, sizing_mode="stretch_width")
        self.total_card = _html()
        self.budget_cards = _html(sizing_mode="stretch_width")
        # Figures built once per session and updated in place (charts.Charts);
        # shown from the first view with data on.
        self.figures = charts.Charts()
        self.bars = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=340)
        self.trend = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=340)
        self.table = _html(sizing_mode="stretch_width")
        self.empty = _html(visible=False, sizing_mode="stretch_width")
        self.freshness = _html(sizing_mode="stretch_width")
        self.billing = _html(sizing_mode="stretch_width")  # "Billed vs estimated"
        self.charts = pn.Column(
            pn.Column(_heading("Trend"), self.trend, sizing_mode="stretch_width"),
            pn.Row(
                pn.Column(_heading("Spend by group"), self.bars, sizing_mode="stretch_width"),
                pn.Column(
                    pn.Row(_heading("Breakdown"), self.controls.download),
                    self.table,
                    sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        # The view the page's link asks for (alert links), set before the controls
        # are watched so that the first refresh shows it; a tag group-by waits
        # for the store's tag names.
        link = parse_link(pn.state.session_args, FILTER_DIMENSIONS)
        self._linked_group = None if self.controls.apply_link(link) else link.group_by
        for widget in self.controls.watched:
            widget.param.watch(self._changed, "value")

    def selection(self) -> Selection:
        return self.controls.selection()

    async def _changed(self, *_events: object) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Recompute every figure for the controls' current state and show it."""
        self._generation += 1
        generation = self._generation
        reader = await self._reader_source()
        if self._cache is None or self._cache.reader is not reader:
            self._cache = CachingReader(reader, SNAPSHOT_MAX_AGE.total_seconds())
        if generation == 1:
            self.controls.set_tags(await reader.tag_names())
            if self._linked_group in self.controls.group_by.values:
                self.controls.group_by.value = self._linked_group
                return  # that change's own refresh shows the linked view
        view = await compute_view(
            self._cache,
            self.selection(),
            now=self._snapshot_now(),
            timezone=self._options.timezone,
            budgets=self._options.budgets,
            state_dir=self._options.state_dir,
        )
        billing = await compute_billing(self._cache, view.range.start, view.range.end)
        if generation != self._generation:
            return  # a newer refresh is running; its result wins
        self.view = view
        # One document patch for the whole page: without it the browser may show
        # the new total next to the old table for a frame.
        with pn.io.hold():
            self._render(view, generation)
            self.billing.object = billing_html(billing)

    def _snapshot_now(self) -> datetime:
        """The instant of the figures: the shown view's while it is younger than
        :data:`SNAPSHOT_MAX_AGE`, so unchanged questions are identical and cached."""
        now = self._clock()
        shown = self.view
        if shown is not None and timedelta(0) <= now - shown.now <= SNAPSHOT_MAX_AGE:
            return shown.now
        return now

    def _render(self, view: DashboardView, generation: int) -> None:
        self.controls.set_filter_options(view.filter_options)
        self.range_line.object = render.range_html(view, generation)
        self.total_card.object = render.total_html(view)
        self.budget_cards.object = render.budgets_html(view.budgets, view.timezone)
        self.banner.object = render.unpriced_html(view)
        self.banner.visible = bool(view.unpriced)
        self.freshness.object = render.freshness_html(view)
        if view.is_empty:
            self.empty.object = render.empty_html(view)
            self.empty.visible = True
            self.charts.visible = False
            return
        self.empty.visible = False
        self.charts.visible = True
        palette = charts.colours(view)
        axis_label = self.controls.group_label(view.selection.group_by)
        trend = self.figures.show(view, palette, axis_label)
        if self.bars.object is None:
            self.bars.object = self.figures.bars
        if self.trend.object is not trend:
            self.trend.object = trend  # the first chart, or the granularity changed
        self.table.object = render.table_html(view)
        self.controls.download.filename = csv_filename(
            view.selection.group_by, view.selection.preset
        )

    def _csv(self) -> io.StringIO:
        view = self.view
        if view is None:
            return io.StringIO("")
        return io.StringIO(breakdown_csv(view.table, view.selection.group_by, view.pricing))

    def page(self) -> pn.template.BaseTemplate:
        """The whole page in a template; schedules the first refresh on load."""
        main = pn.Column(
            self.range_line,
            self.banner,
            pn.Row(self.total_card, self.budget_cards, sizing_mode="stretch_width"),
            self.empty,
            self.charts,
            self.billing,
            self.freshness,
            sizing_mode="stretch_width",
        )
        # Bootstrap, not Fast: the Fast design imports its font from
        # fonts.googleapis.com, and the page must load nothing from another host.
        template = pn.template.BootstrapTemplate(
            title=self._options.title,
            sidebar=self.controls.widgets(),
            main=[main],
            header_background=ACCENT,
            sidebar_width=280,
        )
        pn.state.onload(self.refresh)
        return template


def _heading(text: str) -> pn.pane.HTML:
    # Constant text; HTML rather than Markdown so that no pane on the page renders Markdown.
    return pn.pane.HTML(f"<h3>{text}</h3>", margin=(5, 10, 0, 10))
