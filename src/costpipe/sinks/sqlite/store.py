"""``[[sinks.sqlite]]``: an embedded store in one SQLite file.

One row per record key (``INSERT ... ON CONFLICT(key) DO UPDATE``), so
re-writing a record, or re-pricing a row stored unpriced (same key), replaces
it. The database runs in WAL mode with ``synchronous=FULL``: a write returns
once its transaction is on disk, and the dashboard can read while the daemon
writes.

The stdlib ``sqlite3`` module blocks, so all SQL runs in worker threads: one
writer thread owning one connection (SQLite has a single writer anyway), and
a small pool of reader threads with one read-only connection each.

Money is stored as exact integer nanodollars (``cost_nanos``, summed by SQL)
plus the original decimal text (``cost_usd``). Enricher tags are a JSON object
in ``tags`` (grouped and filtered with ``json_extract``); their names are kept
in the ``tag_names`` table so listing them does not scan the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from costpipe.components import ComponentConfig, ComponentContext, Sink
from costpipe.errors import CostpipeError, SinkUnavailableError
from costpipe.files import FILE_MODE, private_dir
from costpipe.hookspecs import hookimpl
from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord
from costpipe.sinks.influxdb.encoder import cost_nanos
from costpipe.sinks.sqlite.reader import SQLiteReader, micros

__all__ = ["SCHEMA", "SQLiteConfig", "SQLiteDatabase", "SQLiteSink"]

T = TypeVar("T")

# One column per text dimension, from the one definition in costpipe.records.
_DIMENSION_COLUMNS = "".join(f"\n    {name} TEXT NOT NULL," for name in TEXT_DIMENSIONS)
# One column per counter (tokens by category, requests, usage units), likewise.
_COUNTER_COLUMNS = "".join(f"\n    {name} INTEGER NOT NULL DEFAULT 0," for name in TOKEN_FIELDS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS costs (
    key TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,              -- bucket start, microseconds since the epoch (UTC)
    width_us INTEGER NOT NULL,{_DIMENSION_COLUMNS}
    basis TEXT NOT NULL,              -- billed | allocated | estimated
    cost_source TEXT NOT NULL,        -- billed | allocated | estimated | unpriced
    cost_nanos INTEGER NOT NULL,
    cost_usd TEXT NOT NULL,{_COUNTER_COLUMNS}
    tags TEXT NOT NULL,               -- JSON object of enricher tags
    price_source TEXT NOT NULL DEFAULT ''  -- where an estimate's price came from (audit)
);
CREATE INDEX IF NOT EXISTS costs_basis_ts ON costs (basis, ts);
CREATE INDEX IF NOT EXISTS costs_source_ts ON costs (cost_source, ts);
CREATE TABLE IF NOT EXISTS tag_names (name TEXT PRIMARY KEY);
"""

_COLUMNS = (
    "key",
    "ts",
    "width_us",
    *TEXT_DIMENSIONS,
    "basis",
    "cost_source",
    "cost_nanos",
    "cost_usd",
    *TOKEN_FIELDS,
    "tags",
    "price_source",
)
_UPSERT = (
    f"INSERT INTO costs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "key")
)


_dimension_values = operator.attrgetter(*TEXT_DIMENSIONS)
_counter_values = operator.attrgetter(*TOKEN_FIELDS)


def _row(record: CostRecord) -> tuple[Any, ...]:
    tags = {k: v for k, v in record.tags if v}
    return (
        record.key,
        micros(record.start),
        micros(record.start + record.width) - micros(record.start),
        *_dimension_values(record),
        record.basis,
        record.cost_source.value,
        cost_nanos(record.cost_usd),
        str(record.cost_usd),
        *_counter_values(record),
        json.dumps(tags, ensure_ascii=False, sort_keys=True),
        record.price_source,
    )


def _create_private(path: Path) -> None:
    """Make the database file (and any -wal/-shm left over) ``0600`` before SQLite opens it.

    SQLite creates ``-wal`` and ``-shm`` with the database file's mode, so they
    follow. A missing directory is created ``0700``; an existing one is the
    operator's choice (it may be their working directory) and is left alone.
    """
    if not path.parent.exists():
        private_dir(path.parent)
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name is path or name.exists():
            with contextlib.suppress(PermissionError):
                # A file we may not write or do not own is its owner's choice;
                # SQLite itself reports a database it cannot open.
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT, FILE_MODE))
                os.chmod(name, FILE_MODE)


class SQLiteDatabase:
    """Connections and threads for one database file.

    ``write`` runs on the single writer thread; ``read`` on a reader pool with
    one connection per thread. sqlite3 errors that a retry can fix (locked,
    busy, I/O, cannot open) become :class:`SinkUnavailableError`.
    """

    def __init__(self, path: Path, busy_timeout_ms: int = 5000, readers: int = 2) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="costpipe-sqlite-w")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="costpipe-sqlite-r")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self, read_only: bool) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if not read_only or (not self.path.exists() and self.path.parent.is_dir()):
            # A reader that comes first (the dashboard) would otherwise let
            # sqlite3.connect create the file with the umask's mode.
            _create_private(self.path)
        # check_same_thread=False only so close() can close it from another thread;
        # each connection is used by the one thread that opened it.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        if read_only:
            conn.execute("PRAGMA query_only = 1")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._writer, work, read_only=False)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._readers, work, read_only=True)

    async def _run(
        self, pool: ThreadPoolExecutor, work: Callable[[sqlite3.Connection], T], read_only: bool
    ) -> T:
        if self._closed:
            raise SinkUnavailableError(f"SQLite store {self.path} is closed")

        def call() -> T:
            try:
                return work(self._connect(read_only))
            except sqlite3.OperationalError as exc:
                raise SinkUnavailableError(f"SQLite store {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                raise CostpipeError(f"SQLite store {self.path}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(pool, call)

    def close(self) -> None:
        self._closed = True
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def _create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables; add a column for a dimension or counter a newer
    costpipe introduced (a store created by an older one is migrated in place)."""
    conn.executescript(SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(costs)")}
    for name in TEXT_DIMENSIONS:
        if name not in present:
            # Rows stored before the dimension existed simply do not have it.
            conn.execute(f"ALTER TABLE costs ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")
    for name in TOKEN_FIELDS:
        if name not in present:
            # Rows stored before the counter existed counted none of it (e.g. audio
            # tokens were inside the text categories then).
            conn.execute(f"ALTER TABLE costs ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0")
    if "price_source" not in present:
        # A database written before prices were audited: its rows read as "".
        conn.execute("ALTER TABLE costs ADD COLUMN price_source TEXT NOT NULL DEFAULT ''")


class SQLiteConfig(ComponentConfig):
    """Options of ``[[sinks.sqlite]]``."""

    path: Path = Field(default=Path(".costpipe/costs.sqlite"), description="Database file.")
    busy_timeout_ms: int = Field(
        default=5000, ge=0, description="How long a write waits for a lock before it spools."
    )


class SQLiteSink(Sink[SQLiteConfig]):
    """Stores records in SQLite; see the module docstring."""

    name: ClassVar[str] = "sqlite"
    config_model = SQLiteConfig

    def __init__(self, config: SQLiteConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.db = SQLiteDatabase(config.path, config.busy_timeout_ms)

    async def start(self) -> None:
        await self.db.write(_create_schema)

    async def close(self) -> None:
        await asyncio.to_thread(self.db.close)

    async def check_connection(self) -> str:
        count = await self.db.read(
            lambda conn: int(conn.execute("SELECT count(*) FROM costs").fetchone()[0])
        )
        return f"opened {self.config.path} ({count} rows)"

    async def write(self, records: Sequence[CostRecord]) -> None:
        if not records:
            return
        rows = [_row(r) for r in records]
        names = sorted({(name,) for r in records for name, value in r.tags if value})

        def work(conn: sqlite3.Connection) -> None:
            # One transaction: all rows or none.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_UPSERT, rows)
                if names:
                    conn.executemany("INSERT OR IGNORE INTO tag_names (name) VALUES (?)", names)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self.db.write(work)

    def reader(self) -> SQLiteReader:
        return SQLiteReader(self.db)


@hookimpl
def register_sinks() -> list[type[Sink[Any]]]:
    return [SQLiteSink]
