"""The MemorySink fake: upserts by key and answers CostReader queries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from costpipe.query.api import OTHER, Basis, CostQuery, CostReader, Granularity
from costpipe.records import CostSource
from costpipe.testing import MemorySink
from tests.alerts.conftest import cost

DAY = datetime(2026, 11, 10, tzinfo=UTC)
RANGE = CostQuery(DAY, DAY.replace(day=12))


async def test_write_upserts_by_key(sink: MemorySink) -> None:
    await sink.write([cost(DAY, "1.10"), cost(DAY, "2.20")])  # same key: a revision
    await sink.write([cost(DAY, "3.30", item="b")])
    assert await sink.reader().total(RANGE) == Decimal("5.50")


async def test_reader_is_a_cost_reader(sink: MemorySink) -> None:
    assert isinstance(sink.reader(), CostReader)


async def test_breakdown_sorts_and_folds_the_rest_into_other(sink: MemorySink) -> None:
    sink.add(cost(DAY, "5", user="a"), cost(DAY, "3", user="b"), cost(DAY, "1", user="c"))
    sink.add(cost(DAY, "1", user="d"))
    rows = await sink.reader().breakdown(RANGE, by="user_id", top=2)
    assert [(r.group, r.cost_usd) for r in rows] == [("a", 5), ("b", 3), (OTHER, 2)]


async def test_basis_and_filters_select_rows(sink: MemorySink) -> None:
    sink.add(cost(DAY, "5", user="a"), cost(DAY, "7", user="a", source=CostSource.ESTIMATED))
    sink.add(cost(DAY, "9", user="b"))
    reader = sink.reader()
    billed_a = CostQuery(RANGE.start, RANGE.end, Basis.BILLED, {"user_id": ("a",)})
    estimated = CostQuery(RANGE.start, RANGE.end, Basis.ESTIMATED)
    assert (await reader.total(billed_a), await reader.total(estimated)) == (5, 7)


async def test_unknown_dimension_is_refused(sink: MemorySink) -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        await sink.reader().breakdown(RANGE, by="colour")


async def test_daily_series_follows_the_timezone(sink: MemorySink) -> None:
    """03:00 UTC is the previous day in New York."""
    sink.add(cost(DAY.replace(hour=3), "1"), cost(DAY.replace(hour=12), "2"))
    points = await sink.reader().series(RANGE, Granularity.DAY, "America/New_York")
    zone = ZoneInfo("America/New_York")
    assert [(p.start, p.cost_usd) for p in points] == [
        (datetime(2026, 11, 9, tzinfo=zone), 1),
        (datetime(2026, 11, 10, tzinfo=zone), 2),
    ]


async def test_unpriced_usage_and_tag_names(sink: MemorySink) -> None:
    sink.add(cost(DAY, "0", source=CostSource.UNPRICED, model="m1", tokens=10))
    sink.add(cost(DAY, "1", item="t").with_tags({"team": "x"}))
    reader = sink.reader()
    assert await reader.unpriced_usage(RANGE) == {"m1": 10}
    assert await reader.tag_names() == ["team"]
