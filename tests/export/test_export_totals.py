"""``costpipe export`` from either store, in every format and on every basis:
the money in the file equals what the query layer says the store holds."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.query.api import Basis, CostQuery
from costpipe.records import TEXT_DIMENSIONS
from costpipe.sinks.influxdb.encoder import stored_tag_value
from tests.export.conftest import STORES, Stores, read_rows, run_export, store_total

pytestmark = pytest.mark.slow

#: (--format, suffix, money column)
FORMATS = [
    ("focus", ".csv", "BilledCost"),
    ("csv", ".csv", "cost_usd"),
    ("jsonl", ".jsonl", "cost_usd"),
    ("parquet", ".parquet", "cost_usd"),
]


def exported_total(path: Path, column: str) -> Decimal:
    return sum((Decimal(row[column]) for row in read_rows(path)), Decimal(0))


@pytest.mark.parametrize("basis", [b.value for b in Basis])
@pytest.mark.parametrize("store", STORES)
def test_focus_export_adds_up_to_the_store_on_every_basis(
    stores: Stores, store: str, basis: str, tmp_path: Path
) -> None:
    out = tmp_path / "focus.csv"
    assert 0 == run_export(stores, store, "--basis", basis, output=out)
    expected = asyncio.run(
        store_total(stores, store, CostQuery(stores.since, stores.until, Basis(basis)))
    )
    assert expected == exported_total(out, "BilledCost")
    if basis in ("billed", "estimated"):
        assert expected > 0  # the backfill stored money on these bases


@pytest.mark.parametrize(("fmt", "suffix", "column"), FORMATS)
@pytest.mark.parametrize("store", STORES)
def test_every_format_adds_up_to_the_store(
    stores: Stores, store: str, fmt: str, suffix: str, column: str, tmp_path: Path
) -> None:
    out = tmp_path / f"export{suffix}"
    assert 0 == run_export(stores, store, "--format", fmt, "--basis", "estimated", output=out)
    query = CostQuery(stores.since, stores.until, Basis.ESTIMATED)
    assert asyncio.run(store_total(stores, store, query)) == exported_total(out, column)


@pytest.mark.parametrize("basis", ["billed", "estimated"])
def test_both_stores_export_the_same_daily_rows(stores: Stores, basis: str, tmp_path: Path) -> None:
    """The same backfill read back from SQLite and from InfluxDB gives the same
    (period, dimensions, money, price source, counters) rows: one export, two stores."""
    files = {}
    for store in STORES:
        files[store] = tmp_path / f"{store}.jsonl"
        options = ("--format", "jsonl", "--basis", basis)
        assert 0 == run_export(stores, store, *options, output=files[store])

    def key(row: dict[str, object]) -> str:
        return repr(sorted(row.items()))

    def as_influx_stores_it(row: dict[str, object]) -> dict[str, object]:
        # InfluxDB holds a tag value ending in a backslash with a space appended
        # (docs/storage.md): the one difference between the stores' text.
        return {
            k: stored_tag_value(v) if k in TEXT_DIMENSIONS and isinstance(v, str) else v
            for k, v in row.items()
        }

    sqlite_rows = sorted(map(as_influx_stores_it, read_rows(files["sqlite"])), key=key)
    influx_rows = sorted(read_rows(files["influxdb"]), key=key)
    assert len(sqlite_rows) > 100
    assert sqlite_rows == influx_rows


@pytest.mark.parametrize("store", STORES)
def test_group_by_sums_per_dimension_and_keeps_the_total(
    stores: Stores, store: str, tmp_path: Path
) -> None:
    full, grouped = tmp_path / "full.csv", tmp_path / "grouped.csv"
    assert 0 == run_export(stores, store, "--format", "csv", output=full)
    assert 0 == run_export(
        stores, store, "--format", "csv", "--group-by", "provider,model", output=grouped
    )
    rows = read_rows(grouped)
    assert {r["user_id"] for r in rows} == {None}  # not grouped by: empty
    keys = [(r["period_start"], r["provider"], r["model"], r["cost_source"]) for r in rows]
    assert len(keys) == len(set(keys))  # one row per day, provider, model and source
    assert exported_total(full, "cost_usd") == exported_total(grouped, "cost_usd")
    assert len(rows) < len(read_rows(full))


def test_small_chunks_write_the_same_file_as_large_ones(stores: Stores, tmp_path: Path) -> None:
    """Chunk boundaries (SQLite cursor reads, writer calls) change nothing in the file."""
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    assert 0 == run_export(stores, "sqlite", "--chunk-rows", "7", output=small)
    assert 0 == run_export(stores, "sqlite", "--chunk-rows", "100000", output=large)
    assert small.read_bytes() == large.read_bytes()
