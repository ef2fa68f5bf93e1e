"""How figures are written on the page and in the CSV download.

Cards round money to cents (half up, as an invoice does); the CSV keeps the
store's exact Decimal strings so that a spreadsheet re-adds to the cent and
beyond. Times are shown on the configured zone's wall clock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from costpipe.dashboard.viewmodel import Pricing
from costpipe.query.api import Breakdown
from costpipe.query.csvsafe import neutralise

__all__ = [
    "NONE_LABEL",
    "breakdown_csv",
    "format_change",
    "format_exact",
    "format_lag",
    "format_local",
    "format_percent",
    "format_usd",
    "group_label",
]

#: How a group without the dimension (the store's ``""``) is shown.
NONE_LABEL = "(none)"
_CENT = Decimal("0.01")


def format_usd(amount: Decimal) -> str:
    """``$1,234.57``; negative credits as ``-$12.00``."""
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.2f}"


def format_exact(amount: Decimal) -> str:
    """The exact amount without trailing zeros past the cents: ``374.471138``,
    ``12.50``, ``1000.00``. Stores differ in scale (SQLite keeps nine places);
    this shows every significant digit and nothing else."""
    trimmed = amount.normalize()
    if trimmed.as_tuple().exponent >= -2:  # type: ignore[operator]
        trimmed = amount.quantize(_CENT)
    return format(trimmed, "f")


def format_percent(fraction: Decimal) -> str:
    """``0.8125`` -> ``81.3 %``."""
    value = (fraction * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value} %"


def format_change(change: Decimal | None) -> str:
    """``+12.5 % vs previous period``, or a plain statement when there is no base."""
    if change is None:
        return "no spend in the previous period"
    value = (change * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    sign = "+" if value > 0 else ""
    return f"{sign}{value} % vs previous period"


def format_lag(lag: timedelta | None) -> str:
    """A coarse, human age: ``4 min``, ``3 h 20 min``, ``2 d 5 h``, ``never``."""
    if lag is None:
        return "never"
    minutes = int(lag.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_local(moment: datetime, timezone: str, with_time: bool = True) -> str:
    """``2026-11-03 14:00 CET`` on the zone's wall clock."""
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z" if with_time else "%Y-%m-%d")


def group_label(group: str) -> str:
    return group if group else NONE_LABEL


def _priced(_group: str) -> Pricing:
    return Pricing.PRICED


def breakdown_csv(
    rows: Sequence[Breakdown], dimension: str, pricing: Callable[[str], Pricing] = _priced
) -> str:
    """The breakdown as CSV: header ``<dimension>,cost_usd,pricing``, exact amounts.

    Groups keep their stored value (``""`` for records without the dimension),
    so the file joins back to the raw data, except that a group a spreadsheet
    would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
    is prefixed with ``'`` (:func:`~costpipe.query.csvsafe.neutralise`); the
    exact amounts are numbers and written as they are. ``pricing`` is a :class:`Pricing`
    value per row; an ``unpriced`` row has an empty ``cost_usd`` (its cost is
    unknown, not 0), which a spreadsheet's SUM skips, so the column still adds
    up to the total exactly.
    """
    buffer = io.StringIO()
    # CRLF as RFC 4180 says; it also makes the writer quote a field holding a bare
    # CR, which a spreadsheet would otherwise read as the end of the row.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([dimension, "cost_usd", "pricing"])
    for row in rows:
        state = pricing(row.group)
        cost = "" if state is Pricing.UNPRICED else format_exact(row.cost_usd)
        writer.writerow([neutralise(row.group), cost, state.value])
    return buffer.getvalue()
