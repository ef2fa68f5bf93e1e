"""The best basis: the in-memory fake passes the same basis contract as the stores,
and the slices InfluxDB sums never overlap and miss no day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from costpipe.query.api import Basis
from costpipe.query.best import Slice, best_slices, day_span
from costpipe.testing.basis_contract import BasisContract
from costpipe.testing.memory import MemorySink

D1 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


class TestMemorySinkBases(BasisContract):
    @pytest.fixture
    async def sink(self) -> MemorySink:
        return MemorySink.create()


def test_day_span_covers_whole_utc_days() -> None:
    assert (D1, D1 + 2 * DAY) == day_span(D1 + HOUR, D1 + DAY + HOUR)
    assert (D1, D1 + DAY) == day_span(D1, D1 + DAY)


def test_slices_cover_each_account_day_once() -> None:
    """Each (account, hour) of the range falls in exactly one slice, on the basis
    its day calls for."""
    start, end = D1 + 5 * HOUR, D1 + 6 * DAY + 3 * HOUR
    billed = {
        ("openai", "acme"): {date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 5)},
        ("anthropic", "acme"): set(),
    }
    slices = best_slices(start, end, billed)
    accounts = [("openai", "acme"), ("anthropic", "acme"), ("openai", "other")]
    moment = start
    while moment < end:
        for account in accounts:
            hits = [s for s in slices if _admits(s, account, moment)]
            is_billed = moment.date() in billed.get(account, set())
            bases = sorted(s.basis.value for s in hits)
            # Allocated rows are read everywhere (they exist only on billed days).
            assert bases == (["allocated"] if is_billed else ["allocated", "estimated"])
        moment += HOUR


def _admits(piece: Slice, account: tuple[str, str], moment: datetime) -> bool:
    if not piece.start <= moment < piece.end:
        return False
    if piece.basis is Basis.ALLOCATED:
        return True
    if piece.only is not None and piece.only != account:
        return False
    return account not in piece.excluded
