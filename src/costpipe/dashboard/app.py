"""The Panel page: controls, cards, charts and table over :func:`compute_view`.

This module imports Panel, hvplot and pandas at import time; only
:mod:`costpipe.dashboard.server` (and ``dashboards/costpipe_dashboard.py``)
import it, after checking that the ``dashboard`` extra is installed.

One :class:`Dashboard` is built per browser session. Every control change
schedules :meth:`Dashboard.refresh`, which queries the store once per figure
and then replaces the panes' contents; a refresh that finishes after a newer
one started is dropped, so quick clicks never show stale figures.
"""

from __future__ import annotations

import html
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers the .hvplot accessor)
import pandas as pd
import panel as pn
from bokeh.models import NumeralTickFormatter

from costpipe.config.settings import BudgetConfig, Settings
from costpipe.dashboard.formatting import (
    breakdown_csv,
    format_change,
    format_exact,
    format_lag,
    format_local,
    format_percent,
    format_usd,
    group_label,
)
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import (
    FILTER_DIMENSIONS,
    GROUP_LABELS,
    BudgetView,
    DashboardView,
    Pricing,
    Selection,
    compute_view,
    group_choices,
)
from costpipe.query.api import OTHER, Basis, CostReader, Granularity

__all__ = ["Clock", "Dashboard", "DashboardOptions", "ReaderSource"]

Clock = Callable[[], datetime]
ReaderSource = Callable[[], Awaitable[CostReader]]

#: Colour-blind-safe palette (Okabe-Ito, then greys); "other" is always grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#7f7f7f",
    "#bcbd22",
)
OTHER_COLOUR = "#b0b0b0"
ACCENT = "#0b3d91"

CSS = """
:host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.cp-card { background: #fff; border: 1px solid #d9dee7; border-radius: 8px;
  padding: 14px 18px; min-width: 220px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.cp-card h3 { margin: 0 0 6px 0; font-size: 13px; font-weight: 600; color: #4a5568;
  text-transform: uppercase; letter-spacing: .04em; }
.cp-amount { font-size: 30px; font-weight: 700; color: #1a202c; font-variant-numeric: tabular-nums; }
.cp-sub { font-size: 13px; color: #4a5568; margin-top: 4px; }
.cp-up { color: #b42318; } .cp-down { color: #067647; }
.cp-bar { height: 8px; background: #edf0f5; border-radius: 4px; margin: 8px 0 4px 0; overflow: hidden; }
.cp-fill { height: 8px; border-radius: 4px; }
.cp-ok { background: #2e7d32; } .cp-warn { background: #e69f00; } .cp-over { background: #c62828; }
.cp-range { font-size: 14px; color: #2d3748; }
.cp-fresh { font-size: 12px; color: #4a5568; }
.cp-fresh .cp-err { color: #b42318; }
.cp-empty { padding: 40px; text-align: center; font-size: 18px; color: #4a5568;
  background: #f7f9fc; border: 1px dashed #c3cad6; border-radius: 8px; }
table.cp-table { border-collapse: collapse; width: 100%; font-size: 14px;
  font-variant-numeric: tabular-nums; }
.cp-table th { text-align: left; border-bottom: 2px solid #d9dee7; padding: 6px 10px; color: #4a5568; }
.cp-table td { border-bottom: 1px solid #edf0f5; padding: 6px 10px; }
.cp-table td.num, .cp-table th.num { text-align: right; }
.cp-table td.cp-group { overflow-wrap: anywhere; }
.cp-unpriced { color: #b45309; font-style: italic; }
.cp-note { color: #b45309; font-size: 12px; }
"""


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


def _html(text: str, **params: Any) -> pn.pane.HTML:
    return pn.pane.HTML(text, stylesheets=[CSS], **params)


def _esc(value: object) -> str:
    return html.escape(str(value))


def _forecast_text(budget: BudgetView, tz: str) -> str:
    # period_end is the exclusive next midnight; people say "by the 30th".
    by = format_local(budget.period_end - timedelta(microseconds=1), tz, with_time=False)
    if budget.forecast is None or budget.forecast_used is None:
        return f"forecast from 10 % into the period (ends {by})"
    return (
        f"forecast {format_usd(budget.forecast)} ({format_percent(budget.forecast_used)}) by {by}"
    )


def _bar_label(group: str, pricing: Pricing) -> str:
    # An unpriced model draws no bar; its label must say why.
    if pricing is Pricing.UNPRICED:
        return f"{group_label(group)} (unpriced)"
    if pricing is Pricing.PARTLY_UNPRICED:
        return f"{group_label(group)} (partly unpriced)"
    return group_label(group)


class Dashboard:
    """One session's widgets and panes; :meth:`refresh` recomputes the figures."""

    def __init__(
        self, reader: ReaderSource, options: DashboardOptions, clock: Clock = _utcnow
    ) -> None:
        self._reader_source = reader
        self._options = options
        self._clock = clock
        self._generation = 0
        self.view: DashboardView | None = None
        initial = options.initial
        self.range = pn.widgets.Select(
            name="Date range",
            options={p.label: p.value for p in Preset},
            value=initial.preset.value,
            sizing_mode="stretch_width",
        )
        self.group_by = pn.widgets.Select(
            name="Group by",
            options=group_choices([]),
            value=initial.group_by,
            sizing_mode="stretch_width",
        )
        self.granularity = pn.widgets.RadioButtonGroup(
            name="Granularity",
            options={"Daily": Granularity.DAY.value, "Hourly": Granularity.HOUR.value},
            value=initial.granularity.value,
            button_type="primary",
            button_style="outline",
        )
        self.basis = pn.widgets.RadioButtonGroup(
            name="Cost basis",
            options={"Billed": Basis.BILLED.value, "Estimated": Basis.ESTIMATED.value},
            value=initial.basis.value,
            button_type="primary",
            button_style="outline",
        )
        self.filters = {
            dim: pn.widgets.MultiChoice(
                name=f"{GROUP_LABELS[dim]} filter",
                options=[],
                placeholder="all",
                sizing_mode="stretch_width",
            )
            for dim in FILTER_DIMENSIONS
        }
        self.download = pn.widgets.FileDownload(
            callback=self._csv,
            filename="costpipe-breakdown.csv",
            label="Download CSV",
            button_type="primary",
            button_style="outline",
        )
        self.range_line = _html("", sizing_mode="stretch_width")
        self.banner = pn.pane.Alert("", alert_type="warning", visible=False)
        self.total_card = _html("")
        self.budget_cards = _html("", sizing_mode="stretch_width")
        self.bars = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=340)
        self.trend = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=340)
        self.table = _html("", sizing_mode="stretch_width")
        self.empty = _html("", visible=False, sizing_mode="stretch_width")
        self.freshness = _html("", sizing_mode="stretch_width")
        self.charts = pn.Column(
            pn.Column("### Trend", self.trend, sizing_mode="stretch_width"),
            pn.Row(
                pn.Column("### Spend by group", self.bars, sizing_mode="stretch_width"),
                pn.Column(
                    pn.Row("### Breakdown", self.download),
                    self.table,
                    sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        watched: list[pn.widgets.Widget] = [
            self.range,
            self.group_by,
            self.granularity,
            self.basis,
            *self.filters.values(),
        ]
        for widget in watched:
            widget.param.watch(self._changed, "value")

    # -- state ----------------------------------------------------------------

    def selection(self) -> Selection:
        return Selection(
            preset=Preset(self.range.value),
            group_by=self.group_by.value,
            granularity=Granularity(self.granularity.value),
            basis=Basis(self.basis.value),
            filters={dim: tuple(w.value) for dim, w in self.filters.items() if w.value},
            top=self._options.top,
        )

    async def _changed(self, *_events: object) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Recompute every figure for the controls' current state and show it."""
        self._generation += 1
        generation = self._generation
        reader = await self._reader_source()
        if generation == 1:
            tags = await reader.tag_names()
            self.group_by.options = group_choices(tags)
        view = await compute_view(
            reader,
            self.selection(),
            now=self._clock(),
            timezone=self._options.timezone,
            budgets=self._options.budgets,
            state_dir=self._options.state_dir,
        )
        if generation != self._generation:
            return  # a newer refresh is running; its result wins
        self.view = view
        # One document patch for the whole page: without it the browser may show
        # the new total next to the old table for a frame.
        with pn.io.hold():
            self._render(view, generation)

    # -- rendering ------------------------------------------------------------

    def _render(self, view: DashboardView, generation: int) -> None:
        tz = view.timezone
        for dim, widget in self.filters.items():
            # Keep chosen values selectable even if the new range lacks them.
            widget.options = sorted(set(view.filter_options.get(dim, [])) | set(widget.value))
        self.range_line.object = (
            f'<div class="cp-range" data-testid="range" data-generation="{generation}">'
            f"<b>{_esc(Preset(view.selection.preset).label)}</b>: "
            f"{_esc(format_local(view.range.start, tz))} to {_esc(format_local(view.range.end, tz))}"
            f" &middot; {_esc(view.selection.basis.value)} cost &middot; times in {_esc(tz)}</div>"
        )
        self.total_card.object = self._total_html(view)
        self.budget_cards.object = self._budgets_html(view.budgets, tz)
        if view.unpriced:
            models = ", ".join(
                f"{_esc(m or '(unknown model)')} ({n:,} tokens)"
                for m, n in sorted(view.unpriced.items())
            )
            self.banner.object = (
                f"**Unpriced usage in this range:** {models}. These models have no price, "
                "so the estimated figures leave them out. Add them under `[[prices]]`."
            )
            self.banner.visible = True
        else:
            self.banner.visible = False
        self.freshness.object = self._freshness_html(view)
        if view.is_empty:
            self.empty.object = (
                '<div class="cp-empty" data-testid="empty">No spend recorded in this range '
                f"({_esc(format_local(view.range.start, tz))} to "
                f"{_esc(format_local(view.range.end, tz))}). Pick a longer range or check "
                "the data freshness below.</div>"
            )
            self.empty.visible = True
            self.charts.visible = False
            return
        self.empty.visible = False
        self.charts.visible = True
        colours = self._colours(view)
        self.bars.object = self._bar_chart(view, colours)
        self.trend.object = self._trend_chart(view, colours)
        self.table.object = self._table_html(view)
        self.download.filename = (
            f"costpipe-{view.selection.group_by}-{view.selection.preset.value}.csv"
        )

    def _total_html(self, view: DashboardView) -> str:
        change = view.change
        css = "" if change is None or change == 0 else ("cp-up" if change > 0 else "cp-down")
        return (
            '<div class="cp-card" data-testid="total-card"><h3>Total spend</h3>'
            f'<div class="cp-amount" data-testid="total">{_esc(format_usd(view.total))}</div>'
            f'<div class="cp-sub {css}" data-testid="change">{_esc(format_change(change))}</div>'
            f'<div class="cp-sub">previous period: {_esc(format_usd(view.previous_total))}</div></div>'
        )

    @staticmethod
    def _budgets_html(budgets: Sequence[BudgetView], tz: str) -> str:
        if not budgets:
            return ""
        cards = []
        for budget in budgets:
            used = budget.used
            state = "cp-over" if used >= 1 else "cp-warn" if used >= 0.8 else "cp-ok"
            width = min(used * 100, 100)
            projected = budget.forecast_used
            warn = "cp-up" if projected is not None and projected >= 1 else ""
            scope = f" &middot; top {_esc(budget.group or '(none)')}" if budget.group else ""
            cards.append(
                f'<div class="cp-card" data-testid="budget" data-budget="{_esc(budget.name)}">'
                f"<h3>{_esc(budget.name)}</h3>"
                f'<div class="cp-amount" style="font-size:22px">{_esc(format_usd(budget.spend))}'
                f' <span class="cp-sub">of {_esc(format_usd(budget.amount))}</span></div>'
                f'<div class="cp-bar"><div class="cp-fill {state}" style="width:{width:.1f}%"></div></div>'
                f'<div class="cp-sub"><b data-testid="budget-used">{_esc(format_percent(used))}</b> used'
                f" in {_esc(budget.period)}{scope} &middot; {_esc(budget.basis.value)}</div>"
                f'<div class="cp-sub {warn}">{_esc(_forecast_text(budget, tz))}</div></div>'
            )
        return '<div style="display:flex;gap:12px;flex-wrap:wrap">' + "".join(cards) + "</div>"

    @staticmethod
    def _freshness_html(view: DashboardView) -> str:
        if not view.freshness:
            return '<div class="cp-fresh">Data freshness: no status from the daemon yet.</div>'
        parts = []
        for entry in view.freshness:
            when = (
                format_local(entry.last_success, view.timezone) if entry.last_success else "never"
            )
            text = f"<b>{_esc(entry.instance)}</b>: last pass {_esc(when)} ({_esc(format_lag(entry.lag))} ago)"
            if entry.last_error:
                text += f' <span class="cp-err">last error: {_esc(entry.last_error)}</span>'
            parts.append(f'<span data-testid="freshness">{text}</span>')
        return '<div class="cp-fresh">Data freshness: ' + " &middot; ".join(parts) + "</div>"

    @staticmethod
    def _colours(view: DashboardView) -> dict[str, str]:
        colours: dict[str, str] = {}
        for row in view.bars:
            label = group_label(row.group)
            if row.group == OTHER and len(view.table) > view.selection.top:
                colours[label] = OTHER_COLOUR
            else:
                colours[label] = PALETTE[len(colours) % len(PALETTE)]
        colours.setdefault(OTHER, OTHER_COLOUR)
        return colours

    def _bar_chart(self, view: DashboardView, colours: dict[str, str]) -> hv.Element:
        label = self.group_by.labels[self.group_by.values.index(view.selection.group_by)]
        rows = list(reversed(view.bars))
        frame = pd.DataFrame(
            {
                "group": [_bar_label(r.group, view.pricing(r.group)) for r in rows],
                # Floats only for drawing: the figures on the page come from Decimals.
                "cost": [float(r.cost_usd) for r in rows],
                "colour": [colours[group_label(r.group)] for r in rows],
            }
        )
        return frame.hvplot.barh(
            x="group",
            y="cost",
            color="colour",
            xlabel=label,
            ylabel="Spend (USD)",
            hover_cols=["group", "cost"],
            responsive=True,
            height=320,
            xformatter=NumeralTickFormatter(format="$0,0"),
        ).opts(toolbar=None, default_tools=["hover"], show_grid=True)

    def _trend_chart(self, view: DashboardView, colours: dict[str, str]) -> hv.Element:
        hourly = view.selection.granularity is Granularity.HOUR
        rows = [
            {
                # Bokeh draws naive datetimes as is: strip the zone after converting
                # so the axis shows the configured zone's wall clock.
                "period": p.start.replace(tzinfo=None) if hourly else p.start.strftime("%d %b"),
                "group": group_label(p.group),
                "cost": float(p.cost_usd),
            }
            for p in view.series
        ]
        frame = pd.DataFrame(rows, columns=["period", "group", "cost"])
        # HoloViews orders the stacked groups alphabetically; colours follow that
        # order so that a group has the same colour in both charts.
        order = sorted(set(frame["group"]))
        cmap = [colours.get(g, OTHER_COLOUR) for g in order]
        common: dict[str, Any] = {
            "x": "period",
            "y": "cost",
            "by": "group",
            "stacked": True,
            "ylabel": "Spend (USD)",
            "xlabel": f"{'Hour' if hourly else 'Day'} ({view.timezone})",
            "responsive": True,
            "height": 320,
            "legend": "right",
            "color": cmap,
            "yformatter": NumeralTickFormatter(format="$0,0"),
        }
        if hourly:
            wide = frame.pivot_table(
                index="period", columns="group", values="cost", aggfunc="sum", fill_value=0.0
            )[order].reset_index()
            plot = wide.hvplot.area(
                x="period",
                y=order,
                stacked=True,
                **{k: v for k, v in common.items() if k not in ("x", "y", "by", "stacked")},
            )
        else:
            del common["color"]
            plot = frame.hvplot.bar(
                rot=0 if len(set(frame["period"])) <= 10 else 45,
                # A mapping, not a list: HoloViews stacks groups in order of first
                # appearance, so list positions would not line up with the bar chart.
                cmap={g: colours.get(g, OTHER_COLOUR) for g in order},
                **common,
            )
        return plot.opts(toolbar=None, show_grid=True)

    def _table_html(self, view: DashboardView) -> str:
        total = sum((r.cost_usd for r in view.table), start=view.total * 0)
        label = GROUP_LABELS.get(view.selection.group_by, view.selection.group_by)
        body = []
        for row in view.table:
            pricing = view.pricing(row.group)
            if pricing is Pricing.UNPRICED:
                # Never a silent 0.00: the usage is real, its price is unknown.
                tokens = view.unpriced.get(row.group, 0)
                cost = f'<span class="cp-unpriced" title="{tokens:,} tokens">unpriced</span>'
                share = "n/a"
            else:
                cost = _esc(format_exact(row.cost_usd))
                if pricing is Pricing.PARTLY_UNPRICED:
                    cost += ' <span class="cp-note">+ unpriced usage</span>'
                share = format_percent(row.cost_usd / total) if total else ""
            body.append(
                f'<tr data-pricing="{pricing.value}"><td class="cp-group">'
                f"{_esc(group_label(row.group))}</td>"
                f'<td class="num">{cost}</td><td class="num">{_esc(share)}</td></tr>'
            )
        return (
            '<table class="cp-table" data-testid="breakdown">'
            f'<thead><tr><th>{_esc(label)}</th><th class="num">Cost (USD, exact)</th>'
            '<th class="num">Share</th></tr></thead><tbody>' + "".join(body) + "</tbody></table>"
        )

    def _csv(self) -> io.StringIO:
        view = self.view
        if view is None:
            return io.StringIO("")
        return io.StringIO(breakdown_csv(view.table, view.selection.group_by, view.pricing))

    # -- layout ---------------------------------------------------------------

    def page(self) -> pn.template.BaseTemplate:
        """The whole page in a template; schedules the first refresh on load."""
        controls = [
            self.range,
            self.group_by,
            pn.pane.Markdown("Granularity", margin=(10, 10, 0, 10)),
            self.granularity,
            pn.pane.Markdown("Cost basis", margin=(10, 10, 0, 10)),
            self.basis,
            pn.pane.Markdown("#### Filters", margin=(16, 10, 0, 10)),
            *self.filters.values(),
        ]
        main = pn.Column(
            self.range_line,
            self.banner,
            pn.Row(self.total_card, self.budget_cards, sizing_mode="stretch_width"),
            self.empty,
            self.charts,
            self.freshness,
            sizing_mode="stretch_width",
        )
        template = pn.template.FastListTemplate(
            title=self._options.title,
            sidebar=controls,
            main=[main],
            accent=ACCENT,
            header_background=ACCENT,
            sidebar_width=280,
            theme_toggle=False,
        )
        pn.state.onload(self.refresh)
        return template
