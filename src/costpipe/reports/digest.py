"""The figures of one digest, read through the query layer, as a notification.

Every figure is what :class:`~costpipe.query.api.CostReader` answers for the
report's basis and filters over the period (``total`` and ``breakdown``, summed
by the store in integer nanodollars), formatted for people only at the end.
Provider data (model, user and project names) goes into the tables as text;
each notifier escapes it for its own format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from costpipe.alerts.messages import format_usd, notification_id
from costpipe.alerts.rules import assess, budget_amount
from costpipe.alerts.spend import rule_spends
from costpipe.config.operations import ReportConfig
from costpipe.config.sections import BudgetConfig
from costpipe.notification import Notification, NotificationKind, Table
from costpipe.query.api import Basis, CostQuery, CostReader
from costpipe.reports.schedule import ReportPeriod

__all__ = ["Digest", "build_digest", "change", "digest_notification"]

#: Text cells are cut to this length: a name from provider data may be long.
MAX_CELL = 120


def _cell(text: str) -> str:
    text = text or "(none)"
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def change(current: Decimal, previous: Decimal) -> str:
    """``+12.5 %``, ``-3.0 %``, ``new`` (nothing before) or ``0.0 %``."""
    if previous == 0:
        return "new" if current else "0.0 %"
    percent = ((current - previous) * 100 / previous).quantize(Decimal("0.1"))
    return f"{'+' if percent > 0 else ''}{percent} %"


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest's figures before formatting (what tests compare with the query layer)."""

    total: Decimal
    previous_total: Decimal
    tables: tuple[Table, ...]


async def _compare(
    reader: CostReader, current: CostQuery, previous: CostQuery, by: str
) -> list[tuple[str, Decimal, Decimal]]:
    now = {b.group: b.cost_usd for b in await reader.breakdown(current, by)}
    before = {b.group: b.cost_usd for b in await reader.breakdown(previous, by)}
    return [(g, now.get(g, Decimal(0)), before.get(g, Decimal(0))) for g in now.keys() | before]


def _rows(items: Sequence[tuple[str, Decimal, Decimal]]) -> tuple[tuple[str, ...], ...]:
    return tuple((_cell(g), format_usd(c), format_usd(p), change(c, p)) for g, c, p in items)


async def build_digest(
    reader: CostReader,
    report: ReportConfig,
    period: ReportPeriod,
    budgets: Sequence[BudgetConfig],
    timezone: str,
    now: datetime,
    anomalies: Sequence[Notification],
) -> Digest:
    filters = {dim: tuple(values) for dim, values in report.filters.items()}
    basis = Basis(report.cost_basis)
    current = CostQuery(period.start, period.end, basis, filters)
    previous = CostQuery(period.previous_start, period.start, basis, filters)
    total, previous_total = await reader.total(current), await reader.total(previous)
    columns = ("", "this period", "period before", "change")
    providers = sorted(await _compare(reader, current, previous, "provider"), key=lambda r: -r[1])
    tables = [Table("Spend by provider", ("provider", *columns[1:]), _rows(providers))]
    movers: list[tuple[str, Decimal, Decimal]] = []
    for dim in report.dimensions:
        try:
            items = await _compare(reader, current, previous, dim)
        except ValueError as exc:  # a dimension or tag this store does not know
            tables.append(Table(f"Top {dim}", (dim,), ((f"not available: {exc}",),)))
            continue
        top = sorted(items, key=lambda r: (-r[1], r[0]))[: report.top]
        tables.append(Table(f"Top {dim}", (dim, *columns[1:]), _rows(top)))
        movers += [(f"{dim} {_cell(g)}", c, p) for g, c, p in items if c != p]
    movers.sort(key=lambda r: (-abs(r[1] - r[2]), r[0]))
    tables.append(Table("Top movers", ("who", *columns[1:]), _rows(movers[: report.top])))
    if report.budgets and budgets:
        tables.append(await _budgets(reader, budgets, timezone, now, report.top))
    tables.append(_anomalies(anomalies, ZoneInfo(report.timezone or timezone)))
    return Digest(total, previous_total, tuple(tables))


async def _budgets(
    reader: CostReader, budgets: Sequence[BudgetConfig], timezone: str, now: datetime, top: int
) -> Table:
    """Each budget's current period: the groups nearest their budget first."""
    rows: list[tuple[str, ...]] = []
    for rule, period, spends in await rule_spends(reader, budgets, now, timezone):
        if isinstance(spends, Exception) or period is None:
            rows.append((_cell(rule.name), "", "", "", "", "not available"))
            continue
        amount = budget_amount(rule.amount_usd)
        statuses = [
            assess(g, s, amount, rule.thresholds, period, now, True) for g, s in spends.items()
        ]
        for status in sorted(statuses, key=lambda s: (-s.spend_usd, s.group))[:top]:
            name = f"{rule.name} ({status.group})" if status.group else rule.name
            projected = status.forecast.projected_usd if status.forecast else None
            rows.append(
                (
                    _cell(name),
                    period.label,
                    format_usd(status.spend_usd),
                    format_usd(amount),
                    f"{status.percent} %",
                    "too early" if projected is None else format_usd(projected),
                )
            )
    columns = ("budget", "period", "spent", "amount", "used", "forecast")
    return Table("Budgets", columns, tuple(rows))


def _anomalies(anomalies: Sequence[Notification], zone: ZoneInfo) -> Table:
    rows = tuple(
        (n.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), _cell(n.title))
        for n in anomalies
    )
    return Table("Anomalies", ("when", "what"), rows or (("", "none in this period"),))


def digest_notification(
    report: ReportConfig,
    period: ReportPeriod,
    digest: Digest,
    timezone: str,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    every = "Weekly" if report.every == "week" else "Monthly"
    zone = report.timezone or timezone
    return Notification(
        id=notification_id(NotificationKind.DIGEST, report.name, period.key),
        kind=NotificationKind.DIGEST,
        title=f"{every} spend report {report.name}: {period.label}",
        summary=(
            f"{format_usd(digest.total)} spent ({report.cost_basis}) in {period.label}"
            f" ({zone}), {change(digest.total, digest.previous_total)} against"
            f" {format_usd(digest.previous_total)} the period before."
        ),
        created_at=now,
        rule=report.name,
        period=period.key,
        spend_usd=digest.total,
        dashboard_url=dashboard_url,
        labels={"kind": "digest", "report": report.name},
        tables=digest.tables,
    )
