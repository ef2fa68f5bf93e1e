"""Durable anomaly state: one row per (rule, group, bucket), in the alert database.

The table lives in the same SQLite file as the budget state and the outbox
(``<state_dir>/alerts/alerts.sqlite``), so that deciding to fire and storing the
notification commit together: after a restart a bucket that fired is known to
have fired and is not announced again. ``episode`` counts how often the bucket
left its band (a bucket back inside the band that leaves it again is a new
episode, with a new notification id); ``repeats`` counts reminders.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

__all__ = ["AnomalySlot", "AnomalyStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS anomaly_slots (
    rule TEXT NOT NULL,
    grp TEXT NOT NULL,
    bucket TEXT NOT NULL,
    active INTEGER NOT NULL,
    episode INTEGER NOT NULL,
    repeats INTEGER NOT NULL,
    last_sent TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (rule, grp, bucket)
);
"""


@dataclass(frozen=True, slots=True)
class AnomalySlot:
    active: bool
    episode: int
    repeats: int
    last_sent: datetime


class AnomalyStore:
    """Reads and writes ``anomaly_slots`` on the alert database's connection;
    the caller owns the transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_SCHEMA)

    def get(self, rule: str, group: str, bucket: str) -> AnomalySlot | None:
        row = self.db.execute(
            "SELECT active, episode, repeats, last_sent FROM anomaly_slots"
            " WHERE rule = ? AND grp = ? AND bucket = ?",
            (rule, group, bucket),
        ).fetchone()
        if row is None:
            return None
        return AnomalySlot(bool(row[0]), int(row[1]), int(row[2]), datetime.fromisoformat(row[3]))

    def active_groups(self, rule: str, bucket: str) -> list[str]:
        rows = self.db.execute(
            "SELECT grp FROM anomaly_slots WHERE rule = ? AND bucket = ? AND active = 1"
            " ORDER BY grp",
            (rule, bucket),
        )
        return [str(r[0]) for r in rows]

    def put(self, rule: str, group: str, bucket: str, slot: AnomalySlot, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO anomaly_slots"
            " (rule, grp, bucket, active, episode, repeats, last_sent, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (rule, grp, bucket) DO UPDATE SET active = excluded.active,"
            " episode = excluded.episode, repeats = excluded.repeats,"
            " last_sent = excluded.last_sent",
            (
                rule,
                group,
                bucket,
                int(slot.active),
                slot.episode,
                slot.repeats,
                slot.last_sent.isoformat(),
                now.isoformat(),
            ),
        )

    def forget_before(self, rule: str, created_before: datetime) -> None:
        """Drop the slots of buckets first seen before *created_before*: they are
        never judged again, and the table must not grow forever."""
        self.db.execute(
            "DELETE FROM anomaly_slots WHERE rule = ? AND created_at < ?",
            (rule, created_before.isoformat()),
        )
