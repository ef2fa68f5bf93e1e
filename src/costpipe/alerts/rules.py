"""Budget rule evaluation: spend -> crossed thresholds and a forecast. No IO.

The forecast is a linear projection over the elapsed time of the period::

    projected = spend / elapsed_fraction

It is only made once at least :data:`MIN_ELAPSED_FRACTION` of the period has
passed (10 %: about 3 days of a month, 17 hours of a week, 2.4 hours of a day),
because a few early hours of spend extrapolated over a month are noise. Billing
data that arrives late only lowers the projection, so the forecast errs on the
quiet side. The projected exhaustion moment is when the same burn rate reaches
the budget: ``start + elapsed * budget / spend``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from costpipe.alerts.periods import Period
from costpipe.records import utc

__all__ = [
    "MIN_ELAPSED_FRACTION",
    "MISSING_GROUP",
    "BudgetStatus",
    "Forecast",
    "assess",
    "budget_amount",
    "forecast",
]

MIN_ELAPSED_FRACTION = Decimal("0.1")
#: The group of records without the ``group_by`` dimension, when a budget
#: includes them (``include_missing = true``); by default they are left out.
MISSING_GROUP = "(none)"


def budget_amount(amount: Decimal | float) -> Decimal:
    """The config's amount as an exact Decimal, shown as written (``100``, not ``100.0``)."""
    # str() of a float is its shortest round-tripping form, so 0.1 stays 0.1.
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


@dataclass(frozen=True, slots=True)
class Forecast:
    projected_usd: Decimal
    """Spend at the end of the period if the burn rate so far goes on."""
    exhaustion: datetime | None
    """When the budget runs out at that rate (UTC), ``None`` if not in this period."""


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where one group of one rule stands in one period."""

    group: str
    spend_usd: Decimal
    budget_usd: Decimal
    crossed: tuple[int, ...]
    """Thresholds (percent) the spend has reached, ascending."""
    forecast: Forecast | None

    @property
    def percent(self) -> Decimal:
        return (self.spend_usd * 100 / self.budget_usd).quantize(Decimal("0.1"))

    @property
    def forecast_breaches(self) -> bool:
        """The projection reaches the budget while the spend has not yet."""
        return (
            self.forecast is not None
            and self.spend_usd < self.budget_usd <= self.forecast.projected_usd
        )


def forecast(spend: Decimal, budget: Decimal, period: Period, now: datetime) -> Forecast | None:
    """Linear projection of *spend* to the end of *period* (see module docs)."""
    fraction = period.elapsed_fraction(now)
    if fraction < MIN_ELAPSED_FRACTION or spend <= 0:
        return None
    projected = spend / fraction
    elapsed = min(utc(now), period.end) - period.start
    exhaustion: datetime | None = None
    if spend < budget <= projected:
        ratio = budget / spend
        exhaustion = period.start + timedelta(seconds=float(ratio) * elapsed.total_seconds())
        if exhaustion >= period.end:
            exhaustion = None
    elif spend >= budget:
        exhaustion = None
    return Forecast(projected.quantize(Decimal("0.01")), exhaustion)


def assess(
    group: str,
    spend: Decimal,
    budget: Decimal,
    thresholds: list[int],
    period: Period,
    now: datetime,
    with_forecast: bool,
) -> BudgetStatus:
    """Compare *spend* with *budget*: which thresholds it reached, and the forecast."""
    crossed = tuple(t for t in sorted(thresholds) if spend * 100 >= budget * t)
    projection = forecast(spend, budget, period, now) if with_forecast else None
    return BudgetStatus(group, spend, budget, crossed, projection)
