"""Silences: Alertmanager-style mutes that an operator sets with ``costpipe alerts silence``.

A silence is a set of matchers (:mod:`costpipe.alerts.matchers`) over an
alert's labels, a start, an end and a comment. While it is active, every
notification in the outbox whose labels it matches is not delivered: the
outbox marks the row ``silenced`` with the silence's id (kept, listed by
``costpipe alerts list``, never sent later). When it ends (its ``--for`` runs
out, or ``costpipe alerts unsilence``), notifications are delivered again.

The labels of a notification (:func:`alert_labels`) are the same for every
alert kind, so one silence grammar serves budgets, anomalies and drift alerts:

* ``kind``: the alert family (``budget``, ``anomaly``, ``unpriced``, ``stale``,
  ``digest``...; a notification may set it in its ``labels``);
* ``event``: what happened (``threshold``, ``forecast``, ``resolved``...);
* ``rule`` and ``group``: the rule's name and its group value;
* the rule's group label: a budget with ``group_by = "user_id"`` gives
  ``user_id=<group>``; other alerts bring theirs in ``Notification.labels``.

Silences live in ``<state_dir>/alerts/silences.sqlite`` (0600, SQLite in WAL
mode), so ``costpipe alerts silence`` may run while the daemon delivers: each
delivery reads the silences afresh.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from costpipe.alerts.matchers import Matcher, Operator, matches_all
from costpipe.files import private_dir, private_file
from costpipe.notification import Notification, NotificationKind
from costpipe.records import utc

__all__ = ["BUDGET_EVENTS", "Silence", "SilenceStore", "alert_labels"]

#: Notification kinds a budget rule produces (``resolved`` only when the rule is a budget).
BUDGET_EVENTS = frozenset(
    {NotificationKind.THRESHOLD, NotificationKind.FORECAST, NotificationKind.RESET}
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def alert_labels(
    notification: Notification, budget_groups: Mapping[str, str | None]
) -> dict[str, str]:
    """The labels silences match on (see module docs). *budget_groups* maps each
    budget rule's name to its ``group_by`` (None for an ungrouped rule)."""
    n = notification
    is_budget = n.rule in budget_groups and (
        n.kind in BUDGET_EVENTS or n.kind is NotificationKind.RESOLVED
    )
    labels = {
        "kind": "budget" if is_budget else n.kind.value,
        "event": n.kind.value,
        "rule": n.rule,
        "group": n.group,
    }
    group_by = budget_groups.get(n.rule) if is_budget else None
    if group_by and n.group:
        labels[group_by] = n.group
    labels.update(n.labels)
    return labels


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= utc(now) < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def describe(self) -> str:
        return ", ".join(str(m) for m in self.matchers)


class SilenceStore:
    """The silences file; every method opens, reads or writes and closes it."""

    def __init__(self, alerts_dir: Path) -> None:
        self.path = alerts_dir / "silences.sqlite"
        self._cache: tuple[tuple[tuple[int, int], ...], list[Silence]] | None = None

    def _signature(self) -> tuple[tuple[int, int], ...]:
        """Changes whenever a writer commits: the database or its WAL changed."""
        found = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                info = path.stat()
            except FileNotFoundError:
                found.append((0, 0))
            else:
                found.append((info.st_mtime_ns, info.st_size))
        return tuple(found)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        private_dir(self.path.parent)
        private_file(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            yield db
        finally:
            db.close()

    def add(
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, comment: str
    ) -> Silence:
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        silence = Silence(
            secrets.token_hex(6),
            tuple(matchers),
            utc(starts_at),
            utc(ends_at),
            comment,
            utc(starts_at),
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, comment, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    silence.id,
                    json.dumps([[m.name, m.operator.value, m.value] for m in silence.matchers]),
                    silence.starts_at.isoformat(),
                    silence.ends_at.isoformat(),
                    comment,
                    silence.created_at.isoformat(),
                ),
            )
        return silence

    def expire(self, silence_id: str, now: datetime) -> Silence | None:
        """End the silence *silence_id* at *now*; None if there is no such active silence."""
        now = utc(now)
        with self._db() as db:
            cursor = db.execute(
                "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
                (now.isoformat(), silence_id, now.isoformat()),
            )
            if not cursor.rowcount:
                return None
        return next((s for s in self.all() if s.id == silence_id), None)

    def all(self) -> list[Silence]:
        """Every silence, ended ones included. The daemon asks before each delivery:
        the file is read again only when a writer changed it."""
        if not self.path.exists():
            return []
        signature = self._signature()
        if self._cache is not None and self._cache[0] == signature:
            return list(self._cache[1])
        with self._db() as db:
            rows = db.execute(
                "SELECT id, matchers, starts_at, ends_at, comment, created_at FROM silences"
                " ORDER BY created_at, id"
            ).fetchall()
        silences = [
            Silence(
                str(r[0]),
                tuple(Matcher(n, Operator(o), v) for n, o, v in json.loads(r[1])),
                datetime.fromisoformat(r[2]),
                datetime.fromisoformat(r[3]),
                str(r[4]),
                datetime.fromisoformat(r[5]),
            )
            for r in rows
        ]
        self._cache = (signature, silences)
        return list(silences)

    def active(self, now: datetime) -> list[Silence]:
        return [s for s in self.all() if s.active(now)]

    def matching(self, labels: Mapping[str, str], now: datetime) -> Silence | None:
        """The first active silence that matches *labels*, if any."""
        return next((s for s in self.active(now) if s.matches(labels)), None)
