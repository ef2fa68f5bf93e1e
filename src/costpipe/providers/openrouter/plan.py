"""The request that reads OpenRouter's ``/activity`` for a window (no IO).

Only *completed* UTC days exist (the API never reports today) and only the
last 30 of them: a window reaching further back is planned for the days the
API still has, and the plan says so (the provider logs a warning). A window
of exactly one day asks for that ``date``; otherwise the whole 30 days come
back in one answer (the API has no pagination) and the decoder keeps the
window's days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from costpipe.providers.openrouter.decode import DAY
from costpipe.providers.planning import aligned_range
from costpipe.records import Window

__all__ = ["ACTIVITY", "CREDITS", "HISTORY_DAYS", "ActivityPlan", "plan_activity"]

ACTIVITY = "/activity"
CREDITS = "/credits"
HISTORY_DAYS = 30


@dataclass(frozen=True, slots=True)
class ActivityPlan:
    """The days to request and keep (``None``: nothing to request), the query, and
    the days asked for that the API no longer has."""

    span: Window | None
    params: list[tuple[str, str]] = field(default_factory=list)
    unavailable: Window | None = None


def midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def plan_activity(
    window: Window, now: datetime, workspace_id: str | None = None
) -> ActivityPlan | None:
    """The request for *window*, or ``None`` when no available completed day is in it
    (:attr:`ActivityPlan.unavailable` is then lost history the caller reports)."""
    span = aligned_range(window, DAY, now)  # "now" floored to midnight: completed days only
    if span is None:
        return None
    oldest = midnight(now) - HISTORY_DAYS * DAY
    unavailable = None
    if span.start < oldest:
        unavailable = Window(span.start, oldest)
        if span.end <= oldest:
            return ActivityPlan(None, [], unavailable)
        span = Window(oldest, span.end)
    params: list[tuple[str, str]] = []
    if span.duration == DAY:
        params.append(("date", span.start.date().isoformat()))
    params.append(("group_by", "workspace"))
    if workspace_id:
        params.append(("workspace_id", workspace_id))
    return ActivityPlan(span, params, unavailable)
