"""Durable alert state in one SQLite file (``<state_dir>/alerts.sqlite``).

The alert state and the outbox (:mod:`costpipe.alerts.outbox`) share the file so
that deciding to notify and storing the notification commit in one
transaction: after a crash either both happened or neither did, so a restart
never re-sends and never forgets. SQLite is used synchronously: every statement
touches a handful of rows in a local file, far below the cost of an await.

Budget state is one row per (rule, group, period, slot), where a slot is a
threshold percent (``"80"``) or ``"forecast"``. ``episode`` counts how often the
slot was crossed (a resolved slot that is crossed again starts a new episode and
so gets a new notification id); ``repeats`` counts re-notifications of one
episode.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from costpipe.files import private_dir, private_file

__all__ = ["AlertState", "SlotState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_slots (
    rule TEXT NOT NULL,
    grp TEXT NOT NULL,
    period TEXT NOT NULL,
    slot TEXT NOT NULL,
    active INTEGER NOT NULL,
    episode INTEGER NOT NULL,
    repeats INTEGER NOT NULL,
    last_sent TEXT NOT NULL,
    PRIMARY KEY (rule, grp, period, slot)
);
CREATE TABLE IF NOT EXISTS rule_periods (
    rule TEXT PRIMARY KEY,
    period TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unpriced_models (
    model TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stale_sources (
    instance TEXT PRIMARY KEY,
    since TEXT NOT NULL,
    episode TEXT NOT NULL,
    notified INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    sent_at TEXT,
    UNIQUE (id, target)
);
"""


@dataclass(frozen=True, slots=True)
class SlotState:
    slot: str
    active: bool
    episode: int
    repeats: int
    last_sent: datetime


class AlertState:
    """The alert database. One instance per engine; not shared across processes."""

    def __init__(self, state_dir: Path) -> None:
        # Alert history and undelivered messages are the operator's alone: the
        # file exists 0600 before SQLite opens it, so its -wal and -shm get 0600 too.
        private_dir(state_dir)
        self.path = private_file(state_dir / "alerts.sqlite")
        # isolation_level=None: transactions are explicit (see `transaction`).
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside at once (nesting joins the outer transaction)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside :meth:`transaction`: undo only this block's changes when it
        raises (the outer transaction goes on and commits the rest)."""
        if not self._depth:
            raise RuntimeError("savepoint() needs an open transaction()")
        self.db.execute("SAVEPOINT block")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO block")
            self.db.execute("RELEASE block")
            raise
        else:
            self.db.execute("RELEASE block")

    # -- budget periods ------------------------------------------------------------

    def rule_period(self, rule: str) -> str | None:
        row = self.db.execute("SELECT period FROM rule_periods WHERE rule = ?", (rule,)).fetchone()
        return None if row is None else str(row[0])

    def start_period(self, rule: str, period: str) -> None:
        """Record *period* as the rule's current one and forget older periods' slots."""
        self.db.execute(
            "INSERT INTO rule_periods (rule, period) VALUES (?, ?)"
            " ON CONFLICT (rule) DO UPDATE SET period = excluded.period",
            (rule, period),
        )
        self.db.execute("DELETE FROM budget_slots WHERE rule = ? AND period != ?", (rule, period))

    # -- budget slots --------------------------------------------------------------

    def slots(self, rule: str, group: str, period: str) -> dict[str, SlotState]:
        rows = self.db.execute(
            "SELECT slot, active, episode, repeats, last_sent FROM budget_slots"
            " WHERE rule = ? AND grp = ? AND period = ?",
            (rule, group, period),
        )
        return {
            r[0]: SlotState(r[0], bool(r[1]), r[2], r[3], datetime.fromisoformat(r[4]))
            for r in rows
        }

    def active_groups(self, rule: str, period: str) -> set[str]:
        rows = self.db.execute(
            "SELECT DISTINCT grp FROM budget_slots WHERE rule = ? AND period = ? AND active = 1",
            (rule, period),
        )
        return {r[0] for r in rows}

    def put_slot(self, rule: str, group: str, period: str, state: SlotState) -> None:
        self.db.execute(
            "INSERT INTO budget_slots (rule, grp, period, slot, active, episode, repeats, last_sent)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (rule, grp, period, slot) DO UPDATE SET active = excluded.active,"
            " episode = excluded.episode, repeats = excluded.repeats,"
            " last_sent = excluded.last_sent",
            (
                rule,
                group,
                period,
                state.slot,
                int(state.active),
                state.episode,
                state.repeats,
                state.last_sent.isoformat(),
            ),
        )

    def drop_slot(self, rule: str, group: str, period: str, slot: str) -> None:
        self.db.execute(
            "DELETE FROM budget_slots WHERE rule = ? AND grp = ? AND period = ? AND slot = ?",
            (rule, group, period, slot),
        )

    # -- unpriced models -------------------------------------------------------------

    def known_unpriced(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT model FROM unpriced_models")}

    def add_unpriced(self, model: str, now: datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO unpriced_models (model, first_seen) VALUES (?, ?)",
            (model, now.isoformat()),
        )

    # -- stale sources -------------------------------------------------------------

    def stale_source(self, instance: str) -> tuple[datetime, str, bool] | None:
        """``(since, episode, notified)`` for a source that is not fresh."""
        row = self.db.execute(
            "SELECT since, episode, notified FROM stale_sources WHERE instance = ?", (instance,)
        ).fetchone()
        if row is None:
            return None
        return datetime.fromisoformat(row[0]), str(row[1]), bool(row[2])

    def put_stale_source(
        self, instance: str, since: datetime, episode: str, notified: bool
    ) -> None:
        self.db.execute(
            "INSERT INTO stale_sources (instance, since, episode, notified) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (instance) DO UPDATE SET since = excluded.since,"
            " episode = excluded.episode, notified = excluded.notified",
            (instance, since.isoformat(), episode, int(notified)),
        )

    def clear_stale_source(self, instance: str) -> None:
        self.db.execute("DELETE FROM stale_sources WHERE instance = ?", (instance,))
