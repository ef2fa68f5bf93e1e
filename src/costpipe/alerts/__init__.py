"""Budgets and alerts: rules, durable state, the outbox and the engine facade."""

from __future__ import annotations

from costpipe.alerts.engine import AlertEngine
from costpipe.alerts.periods import Period, period_at
from costpipe.alerts.rules import BudgetStatus, Forecast

__all__ = ["AlertEngine", "BudgetStatus", "Forecast", "Period", "period_at"]
