"""The page's HTML fragments, from Jinja2 templates with autoescaping.

Every string from the data (model, user, project and key names, tag names,
provider instance names, error texts, budget names) reaches the page through
one of these templates, so it is escaped once, by Jinja2, and shown as text;
no fragment is assembled with f-strings. The templates live next to this module
(``templates/*.html``); figures are formatted here, the templates only lay out.

No Panel: the fragments are unit-tested as plain strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from costpipe.dashboard.formatting import (
    format_change,
    format_exact,
    format_lag,
    format_local,
    format_percent,
    format_usd,
    group_label,
)
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import GROUP_LABELS, BudgetView, DashboardView, Pricing

__all__ = [
    "budgets_html",
    "empty_html",
    "freshness_html",
    "range_html",
    "stylesheet",
    "table_html",
    "total_html",
    "unpriced_html",
]


@cache
def _environment() -> jinja2.Environment:
    # autoescape=True for every template, whatever its name; StrictUndefined so a
    # misspelt variable fails the tests instead of rendering as an empty string.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("costpipe.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )


def render(template: str, **variables: Any) -> str:
    """Render ``templates/<template>`` with *variables*, every value escaped."""
    return _environment().get_template(template).render(**variables)


@cache
def stylesheet() -> str:
    """The CSS shared by every fragment (``templates/style.css``)."""
    return (resources.files("costpipe.dashboard") / "templates" / "style.css").read_text("utf-8")


def range_html(view: DashboardView, generation: int) -> str:
    """The line above the cards: preset, local bounds, basis, zone.

    ``data-generation`` lets tests wait for the refresh a control change caused.
    """
    tz = view.timezone
    return render(
        "range.html",
        generation=generation,
        preset=Preset(view.selection.preset).label,
        start=format_local(view.range.start, tz),
        end=format_local(view.range.end, tz),
        basis=view.selection.basis.value,
        timezone=tz,
    )


def total_html(view: DashboardView) -> str:
    change = view.change
    trend = "" if change is None or change == 0 else ("cp-up" if change > 0 else "cp-down")
    return render(
        "total.html",
        total=format_usd(view.total),
        trend=trend,
        change=format_change(change),
        previous=format_usd(view.previous_total),
    )


def _forecast_text(budget: BudgetView, tz: str) -> str:
    # period_end is the exclusive next midnight; people say "by the 30th".
    by = format_local(budget.period_end - timedelta(microseconds=1), tz, with_time=False)
    if budget.forecast is None or budget.forecast_used is None:
        return f"forecast from 10 % into the period (ends {by})"
    return (
        f"forecast {format_usd(budget.forecast)} ({format_percent(budget.forecast_used)}) by {by}"
    )


def budgets_html(budgets: Sequence[BudgetView], tz: str) -> str:
    cards = []
    for budget in budgets:
        used = budget.used
        projected = budget.forecast_used
        cards.append(
            {
                "name": budget.name,
                "spend": format_usd(budget.spend),
                "amount": format_usd(budget.amount),
                "state": "cp-over"
                if used >= 1
                else "cp-warn"
                if used >= Decimal("0.8")
                else "cp-ok",
                "width": f"{min(used * 100, Decimal(100)):.1f}",
                "used": format_percent(used),
                "period": budget.period,
                "group": None if not budget.group else group_label(budget.group),
                "basis": budget.basis.value,
                "warn": "cp-up" if projected is not None and projected >= 1 else "",
                "forecast": _forecast_text(budget, tz),
            }
        )
    return render("budgets.html", budgets=cards)


def freshness_html(view: DashboardView) -> str:
    entries = [
        {
            "instance": entry.instance,
            "when": format_local(entry.last_success, view.timezone)
            if entry.last_success
            else "never",
            "lag": format_lag(entry.lag),
            "error": entry.last_error,
        }
        for entry in view.freshness
    ]
    return render("freshness.html", entries=entries)


def empty_html(view: DashboardView) -> str:
    tz = view.timezone
    return render(
        "empty.html",
        start=format_local(view.range.start, tz),
        end=format_local(view.range.end, tz),
    )


def unpriced_html(view: DashboardView) -> str:
    """The unpriced-usage banner; ``""`` when the range has none."""
    if not view.unpriced:
        return ""
    models = [
        {"name": model or "(unknown model)", "tokens": f"{tokens:,}"}
        for model, tokens in sorted(view.unpriced.items())
    ]
    return render("unpriced.html", models=models)


def table_html(view: DashboardView) -> str:
    """The breakdown table: every group, its exact cost and share."""
    total = sum((r.cost_usd for r in view.table), start=view.total * 0)
    rows = []
    for row in view.table:
        pricing = view.pricing(row.group)
        unpriced = pricing is Pricing.UNPRICED
        rows.append(
            {
                "pricing": pricing.value,
                "group": group_label(row.group),
                # Never a silent 0.00: the usage is real, its price is unknown.
                "unpriced_tokens": f"{view.unpriced.get(row.group, 0):,}" if unpriced else None,
                "cost": format_exact(row.cost_usd),
                "partly": pricing is Pricing.PARTLY_UNPRICED,
                "share": "n/a"
                if unpriced
                else (format_percent(row.cost_usd / total) if total else ""),
            }
        )
    label = GROUP_LABELS.get(view.selection.group_by, view.selection.group_by)
    return render("table.html", label=label, rows=rows)
