"""``costpipe reprice``: stored estimates re-priced with the current table, in
place (same keys), idempotently, with a summary; unknown tiers unpriced and
logged once; long-context rows at the long-context rate; both stores."""

from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from costpipe.cli_reprice import RowStore, _reprice, pricing_tier, reprice_store
from costpipe.components import ComponentContext
from costpipe.pricing.config import PriceConfig
from costpipe.pricing.genai import SOURCE
from costpipe.pricing.prices import PriceTable
from costpipe.query.api import Basis, CostQuery
from costpipe.records import CostRecord, CostSource, PriceSource, Window
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer
from tests.conftest import MakeSettings
from tests.processes import CliProcesses

DAY = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
WINDOW = Window(DAY, DAY + timedelta(days=2))
TABLE = PriceTable.bundled()


def usage(provider: str, model: str, line_item: str, hour: int = 0, **fields: Any) -> CostRecord:
    base: dict[str, Any] = {
        "cost_source": CostSource.UNPRICED,
        "uncached_input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "requests": 10,
    }
    return CostRecord(
        start=DAY + hour * HOUR,
        width=HOUR,
        provider=provider,
        account=f"{provider}.main",
        model=model,
        line_item=line_item,
        **{**base, **fields},
    )


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteSink]:
    context = ComponentContext(instance="sqlite.main", state_dir=tmp_path / "state")
    sink = SQLiteSink(SQLiteConfig(path=tmp_path / "costs.sqlite"), context)
    await sink.start()
    yield sink
    await sink.close()


def rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT key, cost_source, cost_usd, price_source FROM costs ORDER BY key"
        ).fetchall()


def store(sink: SQLiteSink) -> RowStore:
    reader = sink.reader()
    assert isinstance(reader, RowStore)
    return reader


STALE = [
    # Stored unpriced before the data knew the model.
    usage("openai", "gpt-5.4-2026-03-05", "completions, priority"),
    # Stored at an old (wrong) price.
    usage(
        "anthropic",
        "claude-sonnet-4-5-20250929",
        "messages, 200k-1M",
        cost_source=CostSource.ESTIMATED,
        cost_usd=Decimal("4.5"),
        price_source=PriceSource("genai-prices 0.1.0"),
    ),
    usage("openai", "gpt-5.4-mini-2026-03-17", "completions", hour=30),
    # A tier the data does not know: stays unpriced whatever its size.
    *(usage("openai", "gpt-5.4-2026-03-05", "completions, scale", hour=h) for h in range(5)),
    # Billed money is never touched.
    usage("openai", "", "gpt-5.4, input", cost_source=CostSource.BILLED, cost_usd=Decimal(7)),
]


async def test_reprice_prices_stored_rows_in_place_and_a_second_run_changes_nothing(
    sqlite: SQLiteSink, tmp_path: Path
) -> None:
    await sqlite.write(STALE)
    before = rows(tmp_path / "costs.sqlite")
    with structlog.testing.capture_logs() as logs:
        first = await reprice_store(store(sqlite), sqlite, TABLE, WINDOW)
    after = rows(tmp_path / "costs.sqlite")
    assert [r[0] for r in before] == [r[0] for r in after], "same keys: replaced, not added"
    by_key = {r[0]: r for r in after}
    priority = by_key[STALE[0].key]
    # 1M input at $5 + 100k output at $30 per million (Priority).
    assert ("estimated", "8.0000000000", SOURCE) == priority[1:]
    long_context = by_key[STALE[1].key]
    # Sonnet 4.5 above 200k: $6 input, $22.50 output per million.
    assert ("estimated", "8.2500000000", SOURCE) == long_context[1:]
    assert ("unpriced", "0", "") == by_key[STALE[3].key][1:]
    assert ("billed", "7", "") == by_key[STALE[-1].key][1:]
    assert (8, 3, 3) == (first.rows, first.changed, len(first.touched))
    assert {("openai", "gpt-5.4-2026-03-05"), ("anthropic", "claude-sonnet-4-5-20250929")} <= (
        first.models
    )
    assert (Decimal("4.5"), Decimal("8") + Decimal("8.25") + Decimal("1.2")) == (
        first.before,
        first.after,
    )
    assert (7, 5) == (first.unpriced_before, first.unpriced_after)
    assert {
        ("openai", "openai.main", DAY.date()),
        ("anthropic", "anthropic.main", DAY.date()),
        ("openai", "openai.main", (DAY + timedelta(days=1)).date()),
    } == first.touched
    # The unknown tier is logged once with its reason, not once per row.
    scale = [e for e in logs if e.get("tier") == "scale"]
    assert 1 == len(scale)
    assert "no 'scale' tier price for gpt-5.4" in scale[0]["reason"]

    second = await reprice_store(store(sqlite), sqlite, TABLE, WINDOW)
    assert rows(tmp_path / "costs.sqlite") == after
    assert (8, 0, set()) == (second.rows, second.changed, second.touched)
    assert second.before == second.after == first.after


async def test_an_override_reprices_to_its_own_source_and_back(
    sqlite: SQLiteSink, tmp_path: Path
) -> None:
    await sqlite.write(STALE[2:3])
    contract = TABLE.with_overrides(
        [
            PriceConfig(
                provider="openai",
                model="gpt-5.4-mini",
                input=Decimal("0.5"),
                output=Decimal(3),
                name="acme-2026",
            )
        ]
    )
    result = await reprice_store(store(sqlite), sqlite, contract, WINDOW, ["openai"])
    [(_, source, cost, price_source)] = rows(tmp_path / "costs.sqlite")
    assert ("estimated", "0.8000000000", "override:acme-2026") == (source, cost, price_source)
    assert (1, 1) == (result.rows, result.changed)
    back = await reprice_store(store(sqlite), sqlite, TABLE, WINDOW, ["openai"])
    assert ("1.2000000000", SOURCE) == rows(tmp_path / "costs.sqlite")[0][2:]
    assert {("openai", "gpt-5.4-mini-2026-03-17"): [1, Decimal("0.8"), Decimal("1.2")]} == (
        back.by_model
    )


@pytest.mark.parametrize(
    ("provider", "line_item", "tier"),
    [
        ("openai", "completions", ""),
        ("openai", "completions, batch", "batch"),
        ("openai", "completions, priority", "priority"),
        ("openai", "embeddings", ""),
        ("anthropic", "messages", ""),
        ("anthropic", "messages, batch", "batch"),
        ("anthropic", "messages, 200k-1M", "standard@200k-1M"),
        ("anthropic", "messages, batch, 200k-1M", "batch@200k-1M"),
        ("anthropic", "web_search", ""),
    ],
)
def test_the_tier_is_read_back_from_the_line_item(provider: str, line_item: str, tier: str) -> None:
    assert tier == pricing_tier(usage(provider, "m", line_item))


async def test_a_database_from_before_the_price_source_column_gains_it(
    sqlite: SQLiteSink, tmp_path: Path
) -> None:
    await sqlite.write(STALE[:1])
    await sqlite.close()
    path = tmp_path / "costs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE costs DROP COLUMN price_source")
    context = ComponentContext(instance="sqlite.main", state_dir=tmp_path / "state")
    reopened = SQLiteSink(SQLiteConfig(path=path), context)
    await reopened.start()
    try:
        [old] = await store(reopened).stored_rows(
            CostQuery(WINDOW.start, WINDOW.end, Basis.ESTIMATED)
        )
        assert "" == old.price_source
        await reprice_store(store(reopened), reopened, TABLE, WINDOW)
    finally:
        await reopened.close()
    assert [(STALE[0].key, "estimated", "8.0000000000", SOURCE)] == rows(path)


def write_config(path: Path, database: Path) -> None:
    path.write_text(
        f"""
[pipeline]
state_dir = "{path.parent / "state"}"

[[sinks.sqlite]]
name = "main"
path = "{database}"
"""
    )


@pytest.mark.slow  # real processes / a real influxd
async def test_the_command_reprices_and_prints_a_summary(
    sqlite: SQLiteSink, tmp_path: Path, costpipe_cli: CliProcesses
) -> None:
    await sqlite.write(STALE)
    await sqlite.close()
    config = tmp_path / "config.toml"
    write_config(config, tmp_path / "costs.sqlite")
    since, until = "2026-11-20", "2026-11-22"
    done = await costpipe_cli.run(config, "reprice", "--since", since, "--until", until)
    assert 0 == done.code, done.err
    assert "sqlite.main: 8 estimated rows of 3 models" in done.out
    assert "3 changed" in done.out
    assert "before: $4.50 estimated, 7 rows unpriced" in done.out
    assert "after:  $17.45 estimated, 5 rows unpriced" in done.out
    assert "openai gpt-5.4-2026-03-05: 1 rows, $0.00 -> $8.00" in done.out
    again = await costpipe_cli.run(config, "reprice", "--since", since, "--until", until)
    assert 0 == again.code
    assert "0 changed" in again.out
    # The audit field reaches the CSV export: every estimate names its prices.
    csv_path = tmp_path / "usage.csv"
    export = ("export", "--format", "csv", "--basis", "estimated", "--output", str(csv_path))
    done = await costpipe_cli.run(config, *export, "--since", since, "--until", until)
    assert 0 == done.code, done.err
    with csv_path.open(newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert {("estimated", SOURCE), ("unpriced", "")} == {
        (r["cost_source"], r["price_source"]) for r in exported
    }
    backwards = await costpipe_cli.run(config, "reprice", "--since", until, "--until", since)
    assert 2 == backwards.code
    assert "--until" in backwards.err
    unknown = await costpipe_cli.run(config, "reprice", "--since", since, "--provider", "ollama")
    assert 2 == unknown.code


@pytest.mark.slow  # real processes / a real influxd
async def test_reprice_on_influxdb_overwrites_the_points_and_keeps_the_audit_field(
    influxd: InfluxdServer, tmp_path: Path
) -> None:
    """InfluxDB keeps the price source as a string field (not a tag: the series
    does not change), and a repriced point overwrites the old one."""
    config = InfluxDBConfig(url=influxd.url, database=f"t_{uuid.uuid4().hex[:12]}")
    sink = InfluxDBSink(config, ComponentContext("influxdb.main", tmp_path))
    await sink.start()
    try:
        await sink.write(STALE)
        reader = sink.reader()
        assert isinstance(reader, RowStore)
        first = await reprice_store(reader, sink, TABLE, WINDOW)
        second = await reprice_store(reader, sink, TABLE, WINDOW)
        query = CostQuery(WINDOW.start, WINDOW.end, Basis.ESTIMATED)
        stored = {r.line_item: r for r in await reader.stored_rows(query)}
    finally:
        await sink.close()
    assert (8, 3) == (first.rows, first.changed)
    assert (8, 0) == (second.rows, second.changed)
    priority = stored["completions, priority"]
    assert (CostSource.ESTIMATED, Decimal(8), SOURCE) == (
        priority.cost_source,
        priority.cost_usd,
        priority.price_source,
    )
    assert second.after == first.after == Decimal("17.45")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_a_terminal_gets_a_progress_line_and_the_summary(
    sqlite: SQLiteSink, tmp_path: Path, make_settings: MakeSettings
) -> None:
    await sqlite.write(STALE)
    await sqlite.close()
    settings = make_settings(
        f'[[sinks.sqlite]]\nname = "main"\npath = "{tmp_path / "costs.sqlite"}"'
    )
    args = argparse.Namespace(since=WINDOW.start, until=WINDOW.end, provider=None)
    out = Terminal()
    assert 0 == await _reprice(args, settings, out)
    text = out.getvalue()
    assert "\r\x1b[2Ksqlite.main: day 1/2, 7 rows read, 2 changed" in text
    assert "\r\x1b[2Ksqlite.main: day 2/2, 8 rows read, 3 changed\n" in text
    assert text.endswith("openai gpt-5.4-mini-2026-03-17: 1 rows, $0.00 -> $1.20\n")
