"""The fixed sections of ``config.toml``: ``[pipeline]``, ``[[budgets]]``,
``[[anomalies]]``, ``[alerts]``, ``[health]`` and ``[dashboard]``, as strict pydantic models.

Each field's ``description`` is the text of ``docs/configuration.md``
(:mod:`costpipe.config_doc`). Component tables (``[[providers.openai]]``) are
described by each component's own ``config_model``; ``[[prices]]`` by
:class:`costpipe.pricing.config.PriceConfig`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from costpipe.config.durations import Duration
from costpipe.query.api import Basis

__all__ = [
    "AlertSettings",
    "AnomalyConfig",
    "BudgetConfig",
    "DashboardSettings",
    "HealthSettings",
    "PipelineSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSettings(_Strict):
    """``[pipeline]``: schedule, windows, state and limits."""

    interval: Duration = Field(
        default=timedelta(minutes=15), description="Schedule of `costpipe run`."
    )
    lookback: Duration = Field(
        default=timedelta(hours=48),
        description="Trailing window re-fetched on every pass (late and revised billing data).",
    )
    timezone: str = Field(
        default="UTC", description="IANA zone for calendar days, weeks and months."
    )
    state_dir: Path = Field(
        default=Path(".costpipe"), description="Checkpoints, alert state and spool."
    )
    plugin_dirs: list[Path] = Field(
        default_factory=list, description="Folders whose *.py files are loaded as plugins."
    )
    max_concurrent_requests: int = Field(
        default=8, ge=1, le=256, description="HTTP requests in flight across all providers."
    )
    chunk: Duration = Field(
        default=timedelta(days=7),
        description="Backfills are fetched and checkpointed in pieces of this length.",
    )
    spool_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Upper bound of the on-disk spool used while a store is down.",
    )
    shutdown_timeout: Duration = Field(
        default=timedelta(seconds=8),
        description="How long a graceful stop may take before in-flight work is abandoned.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value


class BudgetConfig(_Strict):
    """``[[budgets]]``: one spending rule."""

    name: str = Field(description="Unique rule name, shown in alerts.")
    amount_usd: Decimal = Field(gt=0, description="Budget per period, in USD (exact decimal).")
    period: Literal["day", "week", "month"] = Field(
        default="month", description="Calendar period in `pipeline.timezone`."
    )
    week_start: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = Field(default="monday", description="First day of a `week` period.")
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description="Dimension -> allowed values (AND across keys)."
    )
    group_by: str | None = Field(
        default=None, description="One alert state per value of this dimension."
    )
    include_missing: bool = Field(
        default=False,
        description="With `group_by`: also alert on records without the dimension, as one "
        "group named `(none)` (default: leave them out).",
    )
    thresholds: list[int] = Field(
        default_factory=lambda: [80, 100], description="Percentages of the budget that notify."
    )
    cost_basis: Literal["billed", "estimated", "allocated", "best"] = Field(
        default="best",
        description="`best` (allocated where the day's bill is in, else estimated; the default "
        "since issue 18, was `billed`), `billed`, `estimated` or `allocated`.",
    )
    forecast: bool = Field(
        default=False, description="Also alert when the period-end projection crosses 100 %."
    )
    notify: list[str] = Field(default_factory=list, description="Notifier instance names.")
    repeat_interval: Duration | None = Field(
        default=None, description="Re-notify while still over a threshold."
    )
    send_resolved: bool = Field(
        default=True, description="Notify when spend falls back under a threshold."
    )
    send_reset: bool = Field(default=False, description="Notify when a new period starts.")

    @field_validator("thresholds")
    @classmethod
    def _positive_thresholds(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one threshold is needed")
        if any(t <= 0 for t in value):
            raise ValueError("thresholds are positive percentages")
        return sorted(set(value))


#: ``best`` (allocated where the bill is in, else estimated) where the query layer has it.
DEFAULT_ANOMALY_BASIS = "best" if "best" in {b.value for b in Basis} else "estimated"


class AnomalyConfig(_Strict):
    """``[[anomalies]]``: one spend-anomaly rule (see docs/alerts.md, "Anomalies")."""

    name: str = Field(description="Unique rule name, shown in alerts.")
    group_by: str | None = Field(
        default=None, description="One baseline per value of this dimension or enricher tag."
    )
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description="Dimension -> allowed values (AND across keys)."
    )
    cost_basis: str = Field(
        default=DEFAULT_ANOMALY_BASIS,
        description="Money the rule sums: `best` where available, else `estimated`.",
    )
    granularity: Literal["hour", "day"] = Field(
        default="day", description="Bucket judged: the latest complete one and the current one."
    )
    baseline: Duration = Field(
        default=timedelta(days=14),
        description="Trailing history the expected value comes from (whole days, 3 to 90); "
        "daily rules correct for the weekday, hourly rules compare the same hour of day.",
    )
    sensitivity: Decimal = Field(
        default=Decimal(5),
        gt=0,
        description="Robust standard deviations (1.4826 x MAD) above the expected value "
        "where the band ends; higher fires less.",
    )
    min_increase_usd: Decimal = Field(
        default=Decimal(5),
        ge=0,
        description="Spend over the expected value a bucket must add before it fires.",
    )
    floor_usd: Decimal | None = Field(
        default=None,
        ge=0,
        description="Spend in one bucket that fires for a group with no history "
        "(default: `min_increase_usd`).",
    )
    explain_by: list[str] | None = Field(
        default=None,
        description="Dimensions one level down whose top contributors the alert names "
        "(default: user_id, api_key_id and model, less `group_by`).",
    )
    notify: list[str] = Field(default_factory=list, description="Notifier instance names.")
    repeat_interval: Duration | None = Field(
        default=None, description="Re-notify at this pace while the bucket is still anomalous."
    )
    send_resolved: bool = Field(
        default=True, description="Notify when the bucket's spend is back inside the band."
    )

    @field_validator("cost_basis")
    @classmethod
    def _known_basis(cls, value: str) -> str:
        known = [b.value for b in Basis]
        if value not in known:
            raise ValueError(f"expected one of {', '.join(known)}")
        return value

    @field_validator("baseline")
    @classmethod
    def _whole_days(cls, value: timedelta) -> timedelta:
        if value % timedelta(days=1) or not 3 <= value.days <= 90:
            raise ValueError("expected whole days between 3d and 90d")
        return value


class AlertSettings(_Strict):
    """``[alerts]``: alerts that are not budgets."""

    unpriced_notify: list[str] = Field(
        default_factory=list, description="Notifiers told when a model without a price is used."
    )
    stale_after: Duration | None = Field(
        default=None, description="Alert when a provider has had no successful pass this long."
    )
    stale_notify: list[str] = Field(
        default_factory=list, description="Notifiers for stale sources."
    )
    max_attempts: int = Field(default=5, ge=1, description="Delivery attempts per pass.")
    drift_tolerance: Decimal | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Percent: alert once per provider and closed UTC day whose usage estimate "
        "misses the bill by more (e.g. 5); also `costpipe reconcile`'s default. Off when unset.",
    )
    drift_notify: list[str] = Field(
        default_factory=list, description="Notifiers told about drift alerts."
    )


class HealthSettings(_Strict):
    """``[health]``: the /healthz and /metrics endpoint of `costpipe run`."""

    enabled: bool = Field(default=True, description="Serve /healthz and /metrics.")
    address: str = Field(default="127.0.0.1", description="Bind address (loopback by default).")
    port: int = Field(default=9464, ge=0, le=65535, description="TCP port; 0 picks a free one.")


class DashboardSettings(_Strict):
    """``[dashboard]``: the Panel web app."""

    url: str | None = Field(default=None, description="Public URL, linked from alerts.")
    address: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=5006, ge=0, le=65535, description="TCP port.")
    basic_auth: SecretStr | None = Field(
        default=None, description='"user:password" required to open the dashboard.'
    )
    store: str | None = Field(
        default=None, description="Sink instance to read from (default: the first readable)."
    )
