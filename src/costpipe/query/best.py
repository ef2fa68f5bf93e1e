"""The ``best`` basis cut into stored-basis slices, for stores that cannot join.

``best`` (:class:`~costpipe.query.api.Basis`) is, per provider account and UTC
day, the ``allocated`` rows where that day's bill is in (the day holds an
allocated row) and the ``estimated`` rows where it is not. A store with
subqueries says this in one statement (SQLite); InfluxQL cannot, so its reader
first asks which days hold allocated rows (:func:`day_span` gives the whole UTC
days to ask about), then sums one statement per :class:`Slice` and adds the
slices' aggregated integers per group. The slices never overlap, so every row
counts once:

* every allocated row of the range (allocated rows exist only on billed days);
* estimated rows of every provider account with no billed day in the range;
* estimated rows of each provider account over each run of its unbilled days.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from costpipe.query.api import Basis

__all__ = ["Account", "Slice", "best_slices", "day_span"]

#: A provider account: ``(provider, account)``.
Account = tuple[str, str]
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Slice:
    """Rows of one stored basis in ``[start, end)``; with :attr:`only`, of that
    provider account alone; rows of the accounts in :attr:`excluded` are left out."""

    basis: Basis
    start: datetime
    end: datetime
    only: Account | None = None
    excluded: tuple[Account, ...] = ()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days that ``[start, end)`` touches, as one range."""
    lower = _midnight(start.astimezone(UTC).date())
    upper = _midnight(end.astimezone(UTC).date())
    if upper < end:
        upper += _DAY
    return lower, upper


def best_slices(
    start: datetime, end: datetime, billed_days: Mapping[Account, Set[date]]
) -> list[Slice]:
    """Non-overlapping slices whose rows together are the ``best`` rows of
    ``[start, end)``, given each provider account's UTC days whose bill is in."""
    slices = [Slice(Basis.ALLOCATED, start, end)]
    accounts = tuple(sorted(a for a, days in billed_days.items() if days))
    slices.append(Slice(Basis.ESTIMATED, start, end, excluded=accounts))
    for account in accounts:
        days = billed_days[account]
        cursor = start
        while cursor < end:
            day = cursor.astimezone(UTC).date()
            upper = min(_midnight(day) + _DAY, end)
            if day not in days:
                # Extend the run of unbilled days as far as it goes.
                while upper < end and upper.date() not in days:
                    upper = min(upper + _DAY, end)
                slices.append(Slice(Basis.ESTIMATED, cursor, upper, only=account))
            cursor = upper
    return slices
