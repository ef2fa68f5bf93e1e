"""A SQLite store created by costpipe before the modality tokens and usage units
existed (the schema of commit 7400fa4, written out here) is migrated in place:
its rows keep their figures and read 0 for the new counters, and new records
store every counter."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from costpipe.components import ComponentContext
from costpipe.query.api import Basis, Breakdown, CostQuery
from costpipe.records import TOKEN_FIELDS, UNIT_FIELDS, CostRecord, CostSource
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink

#: ``costs`` and its indexes exactly as costpipe 0.1 (before issue 17) created them.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS costs (
    key TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    width_us INTEGER NOT NULL,
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    model TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    line_item TEXT NOT NULL,
    basis TEXT NOT NULL,
    cost_source TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL,
    cost_usd TEXT NOT NULL,
    uncached_input_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS costs_basis_ts ON costs (basis, ts);
CREATE INDEX IF NOT EXISTS costs_source_ts ON costs (cost_source, ts);
CREATE TABLE IF NOT EXISTS tag_names (name TEXT PRIMARY KEY);
INSERT INTO costs VALUES (
    'old-key', 1772409600000000, 3600000000, 'openai', 'acme', 'gpt-4o', '', 'proj_1', '',
    'completions', 'estimated', 'estimated', 1250000000, '1.25', 1000, 200, 30, 400, 3, '{}'
);
"""
START = datetime(2026, 3, 2, 1, tzinfo=UTC)
ALL_TIME = CostQuery(START - timedelta(days=1), START + timedelta(days=1), Basis.ESTIMATED)


async def test_an_old_store_gains_every_counter_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    units = {name: 10 + number for number, name in enumerate(TOKEN_FIELDS)}
    new = CostRecord(
        start=START,
        width=timedelta(hours=1),
        provider="openai",
        account="acme",
        cost_source=CostSource.UNPRICED,
        model="gpt-image-1",
        line_item="images, 1024x1024, image.generation",
        **units,
    )
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.old", tmp_path))
    await sink.start()
    try:
        await sink.write([new])
        by_item = await sink.reader().breakdown(ALL_TIME, by="line_item")
    finally:
        await sink.close()
    assert Breakdown("completions", Decimal("1.25")) in by_item

    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(costs)")]
        old = conn.execute(
            f"SELECT {', '.join(TOKEN_FIELDS)} FROM costs WHERE key = 'old-key'"
        ).fetchone()
        stored = conn.execute(
            f"SELECT {', '.join(TOKEN_FIELDS)} FROM costs WHERE key = ?", (new.key,)
        ).fetchone()
    assert set(TOKEN_FIELDS) <= set(columns)
    old_counts = dict(zip(TOKEN_FIELDS, old, strict=True))
    assert {"uncached_input_tokens": 1000, "cached_input_tokens": 200, "output_tokens": 400} == {
        k: old_counts[k] for k in ("uncached_input_tokens", "cached_input_tokens", "output_tokens")
    }
    assert all(old_counts[name] == 0 for name in UNIT_FIELDS)
    assert units == dict(zip(TOKEN_FIELDS, stored, strict=True))


async def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    for _ in range(2):
        sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.old", tmp_path))
        await sink.start()
        await sink.close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(costs)")]
        count = conn.execute("SELECT count(*) FROM costs").fetchone()[0]
    assert len(columns) == len(set(columns))
    assert 1 == count
