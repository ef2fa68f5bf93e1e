"""The contract every readable sink passes: storage semantics and the query layer.

Inherit :class:`SinkContract` and provide one fixture, ``sink``: a started,
empty sink whose :meth:`~costpipe.components.Sink.reader` is not ``None``::

    class TestMySink(SinkContract):
        @pytest.fixture
        async def sink(self, tmp_path):
            sink = MySink(MySinkConfig(...), ComponentContext("mine.test", tmp_path))
            await sink.start()
            yield sink
            await sink.close()

A store that rewrites some tag values (InfluxDB cannot hold a newline)
overrides :meth:`SinkContract.stored` with its documented rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from costpipe.components import Sink
from costpipe.query.api import OTHER, Basis, CostQuery, CostReader, Granularity
from costpipe.records import CostRecord, CostSource
from costpipe.testing.basis_contract import BasisContract

__all__ = ["AWKWARD_VALUES", "SinkContract", "contract_record"]

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

#: Tag values that trip up escaping: separators, quotes, backslashes, unicode,
#: query-language metacharacters, a newline and an over-long value.
AWKWARD_VALUES: tuple[str, ...] = (
    "plain",
    "with space",
    "comma,inside",
    "equals=sign",
    'double"quote',
    "single'quote",
    "back\\slash",
    "trailing\\",
    "\\ escaped space",
    "new\nline",
    "tab\there",
    "zürich ✓ 🙂",
    "' OR 1=1 --",
    '" OR ""="',
    "/.*/",
    "x" * 300,
)


def contract_record(**changes: Any) -> CostRecord:
    """A billed one-hour record at 2026-03-02 00:00 UTC, with *changes* applied."""
    base = CostRecord(
        start=T0,
        width=HOUR,
        provider="openai",
        account="acme",
        cost_source=CostSource.BILLED,
        cost_usd=Decimal("1.25"),
        model="gpt-4o",
        project_id="proj_1",
        line_item="gpt-4o, input",
        uncached_input_tokens=1000,
        output_tokens=200,
        requests=3,
    )
    return base.replace(**changes)


def _query(start: datetime = T0, end: datetime = T0 + 30 * DAY, **kw: Any) -> CostQuery:
    return CostQuery(start=start, end=end, **kw)


class SinkContract(BasisContract):
    """Storage and query semantics shared by every readable sink (the money
    bases' part in :class:`~costpipe.testing.basis_contract.BasisContract`)."""

    @staticmethod
    def stored(value: str) -> str:
        """The tag value the store gives back for *value* (identity by default)."""
        return value

    @staticmethod
    def reader_of(sink: Sink[Any]) -> CostReader:
        reader = sink.reader()
        assert reader is not None, "a SinkContract sink must be readable"
        assert isinstance(reader, CostReader)
        return reader

    # -- storage -----------------------------------------------------------------

    async def test_total_reads_back_exact_money(self, sink: Sink[Any]) -> None:
        """Many sub-cent amounts sum exactly (no float drift)."""
        records = [
            contract_record(start=T0 + i * HOUR, cost_usd=Decimal("0.000000001") + Decimal("0.1"))
            for i in range(30)
        ]
        await sink.write(records)
        assert Decimal("3.000000030") == await self.reader_of(sink).total(_query())

    async def test_rewriting_a_record_overwrites_it(self, sink: Sink[Any]) -> None:
        """Writing the same key twice never doubles; a revised figure replaces the old."""
        record = contract_record()
        await sink.write([record])
        await sink.write([record])
        reader = self.reader_of(sink)
        assert Decimal("1.25") == await reader.total(_query())
        await sink.write([record.replace(cost_usd=Decimal("2.50"))])
        assert Decimal("2.50") == await reader.total(_query())

    async def test_repricing_an_unpriced_row_replaces_it(self, sink: Sink[Any]) -> None:
        """Unpriced and estimated rows share a key: the priced row replaces the unpriced."""
        unpriced = contract_record(cost_source=CostSource.UNPRICED, cost_usd=Decimal(0))
        await sink.write([unpriced])
        reader = self.reader_of(sink)
        assert await reader.unpriced_usage(_query()) == {"gpt-4o": 1200}
        priced = unpriced.replace(cost_source=CostSource.ESTIMATED, cost_usd=Decimal("0.75"))
        await sink.write([priced])
        assert await reader.unpriced_usage(_query()) == {}
        estimated = _query(basis=Basis.ESTIMATED)
        assert Decimal("0.75") == await reader.total(estimated)
        assert [("gpt-4o", Decimal("0.75"))] == [
            (b.group, b.cost_usd) for b in await reader.breakdown(estimated, "model")
        ]

    async def test_billed_and_estimated_are_never_summed(self, sink: Sink[Any]) -> None:
        await sink.write(
            [
                contract_record(cost_usd=Decimal("10")),
                contract_record(cost_source=CostSource.ESTIMATED, cost_usd=Decimal("7")),
            ]
        )
        reader = self.reader_of(sink)
        assert Decimal("10") == await reader.total(_query(basis=Basis.BILLED))
        assert Decimal("7") == await reader.total(_query(basis=Basis.ESTIMATED))

    async def test_range_is_half_open(self, sink: Sink[Any]) -> None:
        await sink.write([contract_record(start=T0), contract_record(start=T0 + HOUR)])
        reader = self.reader_of(sink)
        assert Decimal("1.25") == await reader.total(_query(T0, T0 + HOUR))
        assert Decimal("1.25") == await reader.total(_query(T0 + HOUR, T0 + 2 * HOUR))

    async def test_empty_range_reads_as_nothing(self, sink: Sink[Any]) -> None:
        await sink.write([contract_record()])
        reader = self.reader_of(sink)
        empty = _query(T0 - 10 * DAY, T0 - DAY)
        assert Decimal(0) == await reader.total(empty)
        assert await reader.breakdown(empty, "model") == []
        assert await reader.series(empty, Granularity.DAY, "Europe/Berlin") == []
        assert await reader.unpriced_usage(empty) == {}

    async def test_write_of_no_records_is_accepted(self, sink: Sink[Any]) -> None:
        await sink.write([])
        assert Decimal(0) == await self.reader_of(sink).total(_query())

    # -- awkward values and injection ----------------------------------------------

    async def test_awkward_tag_values_read_back(self, sink: Sink[Any]) -> None:
        """Every awkward value is stored (none rejected, none lost) and reads back
        as the store's documented rule says."""
        records = [
            contract_record(model=value, cost_usd=Decimal(i + 1))
            for i, value in enumerate(AWKWARD_VALUES)
        ]
        await sink.write(records)
        reader = self.reader_of(sink)
        got = {b.group: b.cost_usd for b in await reader.breakdown(_query(), "model")}
        assert {self.stored(r.model): r.cost_usd for r in records} == got

    @pytest.mark.parametrize("value", AWKWARD_VALUES)
    async def test_filter_matches_exactly_one_awkward_value(
        self, sink: Sink[Any], value: str
    ) -> None:
        """Filter values are bound or escaped: a hostile value matches only itself."""
        records = [
            contract_record(model=v, cost_usd=Decimal(i + 1)) for i, v in enumerate(AWKWARD_VALUES)
        ]
        await sink.write(records)
        expected = Decimal(AWKWARD_VALUES.index(value) + 1)
        query = _query(filters={"model": (value,)})
        assert expected == await self.reader_of(sink).total(query)

    async def test_hostile_filter_value_absent_from_store_matches_nothing(
        self, sink: Sink[Any]
    ) -> None:
        await sink.write([contract_record()])
        reader = self.reader_of(sink)
        for value in ("' OR 1=1 --", "' OR ''='", '" OR 1=1 --', "/.*/", "\\", "gpt-4o'"):
            assert Decimal(0) == await reader.total(_query(filters={"model": (value,)}))

    async def test_unknown_dimension_is_refused(self, sink: Sink[Any]) -> None:
        reader = self.reader_of(sink)
        for name in ("cost_usd", "model; DROP TABLE costs", 'model" OR "1', "time"):
            with pytest.raises(ValueError, match="unknown dimension"):
                await reader.breakdown(_query(), name)
            with pytest.raises(ValueError, match="unknown dimension"):
                await reader.total(_query(filters={name: ("x",)}))

    # -- breakdowns, filters, tags ---------------------------------------------------

    async def test_breakdown_top_n_sums_the_rest_into_other(self, sink: Sink[Any]) -> None:
        await sink.write(
            [contract_record(user_id=f"user-{n}", cost_usd=Decimal(n)) for n in (5, 4, 3, 2, 1)]
            + [contract_record(user_id="", cost_usd=Decimal("0.5"))]
        )
        reader = self.reader_of(sink)
        top = await reader.breakdown(_query(), "user_id", top=2)
        assert [("user-5", Decimal(5)), ("user-4", Decimal(4)), (OTHER, Decimal("6.5"))] == [
            (b.group, b.cost_usd) for b in top
        ]
        every = await reader.breakdown(_query(), "user_id")
        assert ("", Decimal("0.5")) == (every[-1].group, every[-1].cost_usd)
        assert len(every) == 6

    async def test_filters_or_within_and_across_dimensions(self, sink: Sink[Any]) -> None:
        await sink.write(
            [
                contract_record(model="a", project_id="p1", cost_usd=Decimal(1)),
                contract_record(model="b", project_id="p1", cost_usd=Decimal(2)),
                contract_record(model="c", project_id="p1", cost_usd=Decimal(4)),
                contract_record(model="a", project_id="p2", cost_usd=Decimal(8)),
            ]
        )
        reader = self.reader_of(sink)
        query = _query(filters={"model": ("a", "b"), "project_id": ("p1",)})
        assert Decimal(3) == await reader.total(query)
        assert Decimal(0) == await reader.total(_query(filters={"model": ()}))

    async def test_enricher_tags_group_and_filter(self, sink: Sink[Any]) -> None:
        await sink.write(
            [
                contract_record(user_id="u1", tags=(("team", "search"),), cost_usd=Decimal(1)),
                contract_record(user_id="u2", tags=(("team", "ads"),), cost_usd=Decimal(2)),
                contract_record(user_id="u3", cost_usd=Decimal(4)),
            ]
        )
        reader = self.reader_of(sink)
        assert "team" in await reader.tag_names()
        got = {b.group: b.cost_usd for b in await reader.breakdown(_query(), "team")}
        assert {"": Decimal(4), "ads": Decimal(2), "search": Decimal(1)} == got
        assert Decimal(2) == await reader.total(_query(filters={"team": ("ads",)}))

    async def test_unpriced_usage_counts_tokens_per_model(self, sink: Sink[Any]) -> None:
        await sink.write(
            [
                contract_record(
                    model="mystery-1",
                    cost_source=CostSource.UNPRICED,
                    cost_usd=Decimal(0),
                    uncached_input_tokens=10,
                    cached_input_tokens=20,
                    cache_write_tokens=30,
                    output_tokens=40,
                    line_item="a",
                ),
                contract_record(
                    model="mystery-1",
                    cost_source=CostSource.UNPRICED,
                    cost_usd=Decimal(0),
                    uncached_input_tokens=1,
                    output_tokens=0,
                    line_item="b",
                ),
                contract_record(model="gpt-4o", cost_source=CostSource.ESTIMATED),
            ]
        )
        assert await self.reader_of(sink).unpriced_usage(_query()) == {"mystery-1": 101}

    # -- series and time zones --------------------------------------------------------

    async def test_hourly_series_per_dimension(self, sink: Sink[Any]) -> None:
        await sink.write(
            [
                contract_record(start=T0, model="a", cost_usd=Decimal(1)),
                contract_record(start=T0 + HOUR, model="a", cost_usd=Decimal(2)),
                contract_record(start=T0 + HOUR, model="b", cost_usd=Decimal(3)),
                contract_record(start=T0 + 3 * HOUR, model="b", cost_usd=Decimal(4)),
            ]
        )
        series = await self.reader_of(sink).series(_query(), Granularity.HOUR, "UTC", by="model")
        assert [
            (T0, "a", Decimal(1)),
            (T0 + HOUR, "a", Decimal(2)),
            (T0 + HOUR, "b", Decimal(3)),
            (T0 + 3 * HOUR, "b", Decimal(4)),
        ] == [(p.start, p.group, p.cost_usd) for p in series]

    @pytest.mark.parametrize(
        ("day", "hours"),
        [
            (datetime(2026, 3, 29), 23),  # Europe/Berlin springs forward
            (datetime(2026, 10, 25), 25),  # and falls back
            (datetime(2026, 3, 2), 24),
        ],
    )
    async def test_daily_series_follows_local_days_across_dst(
        self, sink: Sink[Any], day: datetime, hours: int
    ) -> None:
        """One dollar per UTC hour for three local days: the middle day sums to its
        real length in hours, and every period starts at local midnight."""
        zone = ZoneInfo("Europe/Berlin")
        first = day.replace(tzinfo=zone) - DAY
        last = day.replace(tzinfo=zone) + 2 * DAY
        start_utc, end_utc = first.astimezone(UTC), last.astimezone(UTC)
        records = []
        moment = start_utc
        while moment < end_utc:
            records.append(contract_record(start=moment, cost_usd=Decimal(1)))
            moment += HOUR
        await sink.write(records)
        series = await self.reader_of(sink).series(
            _query(start_utc, end_utc), Granularity.DAY, "Europe/Berlin"
        )
        assert [first.date(), day.date(), (day + DAY).date()] == [p.start.date() for p in series]
        assert all(p.start.astimezone(zone).hour == 0 for p in series)
        assert Decimal(hours) == series[1].cost_usd
        assert Decimal(len(records)) == sum((p.cost_usd for p in series), Decimal(0))

    async def test_hourly_series_in_a_zone_keeps_the_repeated_hour(self, sink: Sink[Any]) -> None:
        """On the fall-back night Berlin's 02:00 happens twice: two distinct periods."""
        start = datetime(2026, 10, 24, 23, tzinfo=UTC)  # 01:00 CEST
        await sink.write([contract_record(start=start + i * HOUR) for i in range(4)])
        series = await self.reader_of(sink).series(
            _query(start, start + 4 * HOUR), Granularity.HOUR, "Europe/Berlin"
        )
        # Compare instants in UTC: Python never calls an ambiguous local time equal
        # to a time in another zone (PEP 495).
        assert [start + i * HOUR for i in range(4)] == [p.start.astimezone(UTC) for p in series]
        assert [p.start.isoformat()[11:] for p in series] == [
            "01:00:00+02:00",
            "02:00:00+02:00",
            "02:00:00+01:00",
            "03:00:00+01:00",
        ]
