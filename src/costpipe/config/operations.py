"""``[[maintenance]]`` windows and ``[[reports]]`` digests, as strict pydantic models.

Each field's ``description`` is the text of ``docs/configuration.md``; what
the windows and digests do is in ``docs/alerts.md``. Matchers are checked here
(a bad regular expression is a config error naming its path), with the same
parser the ``costpipe alerts silence`` command uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from costpipe.config.durations import Duration
from costpipe.config.validation import did_you_mean, validate_table
from costpipe.errors import ConfigError
from costpipe.query.api import QUERYABLE_DIMENSIONS, TAG_NAME

__all__ = ["MaintenanceConfig", "ReportConfig", "Weekday", "check_zone", "parse_operations"]

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# Same grammar as costpipe.alerts.matchers (config may not import alerts): the
# regular expression itself is compiled there, at startup.
_MATCHER = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


def check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {value!r}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaintenanceConfig(_Strict):
    """``[[maintenance]]``: a planned window in which matching alerts are not delivered."""

    name: str = Field(description="Unique window name, shown in `costpipe alerts list`.")
    start: datetime | None = Field(
        default=None,
        description="One-off window: first instant (a TOML date-time; without an offset it is "
        "read in `timezone`).",
    )
    end: datetime | None = Field(default=None, description="One-off window: end, exclusive.")
    every: Literal["day", "week"] | None = Field(
        default=None, description="Recurring window: every day, or on `weekdays` every week."
    )
    weekdays: list[Weekday] = Field(
        default_factory=list, description="Recurring weekly window: the local days it opens on."
    )
    at: str = Field(default="00:00", description="Recurring window: local opening time, HH:MM.")
    duration: Duration | None = Field(default=None, description="Recurring window: its length.")
    timezone: str | None = Field(
        default=None, description="IANA zone of `at` and of offset-less times (default UTC)."
    )
    matchers: list[str] = Field(
        default_factory=list,
        description='Alerts it applies to, e.g. ["kind=budget", "rule=~nightly.*"] '
        "(default: every alert).",
    )
    on_end: Literal["deliver", "drop"] = Field(
        default="deliver",
        description="What happens to the notifications it held: `deliver` them when it ends, "
        "or `drop` them (kept as `silenced` in the outbox).",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_zone(value)

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("expected a local time HH:MM, e.g. 02:30")
        return value

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            found = _MATCHER.match(text)
            if found is None:
                raise ValueError(f"{text!r} is not a matcher (name=value, !=, =~ or !~)")
            if found.group(1) in ("=~", "!~"):
                try:
                    re.compile(found.group(2).strip("\"'"))
                except re.error as exc:
                    raise ValueError(f"{text!r}: bad regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> MaintenanceConfig:
        one_off = self.start is not None or self.end is not None
        if one_off == (self.every is not None):
            raise ValueError("give either start and end (one-off) or every (recurring)")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if self.weekdays or self.duration is not None:
                raise ValueError("weekdays and duration are for a recurring window (every)")
        else:
            if self.duration is None or self.duration <= timedelta(0):
                raise ValueError("a recurring window needs a positive duration")
            if self.every == "week" and not self.weekdays:
                raise ValueError('every = "week" needs weekdays')
            if self.every == "day" and self.weekdays:
                raise ValueError('weekdays are for every = "week"')
        return self


class ReportConfig(_Strict):
    """``[[reports]]``: a scheduled spend digest."""

    name: str = Field(description="Unique report name, shown in the digest.")
    every: Literal["week", "month"] = Field(
        default="week",
        description="`week`: the 7 local days before the day it is sent; `month`: the "
        "previous calendar month.",
    )
    weekday: Weekday = Field(default="monday", description="Weekly: the local day it is sent.")
    day: int = Field(
        default=1, ge=1, le=28, description="Monthly: the day of the month it is sent."
    )
    hour: int = Field(default=8, ge=0, le=23, description="Local hour from which it is sent.")
    timezone: str | None = Field(
        default=None, description="IANA zone of the schedule and periods (default: the pipeline's)."
    )
    cost_basis: Literal["billed", "estimated", "allocated", "best"] = Field(
        default="best", description="Money summed (see the query layer's bases)."
    )
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description="Dimension -> allowed values (AND across keys)."
    )
    dimensions: list[str] = Field(
        default_factory=lambda: ["model", "user_id", "project_id"],
        description="Dimensions (or enricher tags) whose top values and movers are shown.",
    )
    top: int = Field(default=5, ge=1, le=50, description="Rows per table.")

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in QUERYABLE_DIMENSIONS and not TAG_NAME.match(name):
                raise ValueError(f"{name!r} is neither a dimension nor an enricher tag name")
        return value

    budgets: bool = Field(default=True, description="Include every budget's status and forecast.")
    notify: list[str] = Field(min_length=1, description="Notifier instance names.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_zone(value)


def parse_operations(
    resolved: Mapping[str, Any], notifier_names: set[str]
) -> tuple[list[MaintenanceConfig], list[ReportConfig]]:
    """``[[maintenance]]`` and ``[[reports]]`` of a resolved config document."""
    maintenance = _named_tables(resolved, "maintenance", MaintenanceConfig)
    reports = _named_tables(resolved, "reports", ReportConfig)
    for index, report in enumerate(reports):
        for target in report.notify:
            if target not in notifier_names:
                hint = did_you_mean(target, notifier_names)
                raise ConfigError(
                    f"reports[{index}].notify", f"no notifier instance is named {target!r}{hint}"
                )
    return maintenance, reports


_Table = TypeVar("_Table", MaintenanceConfig, ReportConfig)


def _named_tables(resolved: Mapping[str, Any], key: str, model: type[_Table]) -> list[_Table]:
    raw = resolved.get(key, [])
    if not isinstance(raw, list):
        raise ConfigError(key, f"write [[{key}]] (an array of tables)")
    tables = [validate_table(model, t, f"{key}[{i}]") for i, t in enumerate(raw)]
    seen: set[str] = set()
    for index, table in enumerate(tables):
        if table.name in seen:
            raise ConfigError(f"{key}[{index}].name", f"{table.name!r} is used twice")
        seen.add(table.name)
    return tables
