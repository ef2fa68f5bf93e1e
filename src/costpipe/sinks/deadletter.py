"""Dead-letter file: points a store refused for good, kept with the reason.

One JSON object per line (``at``, ``sink``, ``reason``, ``line``, ``record``),
appended and fsynced (the file is ``0600``), so nothing a store rejects is lost
silently. The file is ``<state_dir>/sinks/<instance>/dead-letter.jsonl``.

A sink that keeps dead letters exposes its :class:`DeadLetterFile` as the
attribute ``dead_letters``: the core then counts them in
``costpipe_points_dead_lettered_total``, reports the file in ``/healthz``,
fails ``backfill`` and ``run --once``, and ``costpipe deadletter list|replay``
reads and re-sends it (see :mod:`costpipe.engine.deadletters`).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, cast

from costpipe.files import open_private
from costpipe.recordcodec import record_to_json
from costpipe.records import CostRecord
from costpipe.redaction import safe_excerpt

__all__ = [
    "FILE_NAME",
    "DeadLetterFile",
    "Entry",
    "append_locked",
    "read_entries",
    "summarize",
    "take_aside",
]

#: The file's name in the sink's private directory.
FILE_NAME = "dead-letter.jsonl"
#: Distinct reasons kept per summary (a store's reasons repeat; bound what it can say).
MAX_REASONS = 20
#: Characters of one reason in summaries and logs.
REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a dead-letter file: the raw text and what could be read of it."""

    raw: bytes
    reason: str
    record: dict[str, object] | None
    """The record's JSON form (:func:`costpipe.recordcodec.record_from_json`), if readable."""


def read_entries(path: Path) -> Iterator[Entry]:
    """Every line of *path*; a line that is not a dead letter is kept as unreadable."""
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                reason, record = str(data["reason"]), data["record"]
                if not isinstance(record, dict):
                    raise TypeError("record is not an object")
            except (ValueError, KeyError, TypeError):
                yield Entry(raw if raw.endswith(b"\n") else raw + b"\n", "unreadable line", None)
                continue
            yield Entry(raw if raw.endswith(b"\n") else raw + b"\n", reason, record)


def _still_at(handle: IO[bytes], path: Path) -> bool:
    """Whether *handle* is still the file at *path* (not renamed away since it was opened)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def append_locked(path: Path, payload: bytes) -> None:
    """Append *payload* to *path* durably, under the lock :func:`take_aside` takes."""
    # Refused records name users and keys: 0600 in a 0700 directory, whatever the umask.
    while True:
        with cast(IO[bytes], open_private(path, "ab")) as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if not _still_at(handle, path):
                continue  # a replay took the file aside meanwhile: write to the new one
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            return


def take_aside(path: Path, aside: Path) -> None:
    """Rename *path* to *aside* (appending to a leftover *aside*), under the lock
    :func:`append_locked` takes: an append either lands before, in the file
    taken aside, or after, in a new file at *path*; none is lost in between."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        if aside.exists():
            with cast(IO[bytes], open_private(aside, "ab")) as joined:
                joined.write(handle.read())
                joined.flush()
                os.fsync(joined.fileno())
            path.unlink()
        else:
            path.rename(aside)


def short_reason(reason: str) -> str:
    """A store's reason as summaries show it: the per-request ``dropped=N`` count
    removed (so equal reasons group), bounded, secrets masked."""
    return safe_excerpt(reason.rsplit(" dropped=", 1)[0], REASON_CHARS)


def summarize(reasons: Counter[str]) -> str:
    """``"442 × field type conflict: ..."``, most frequent first, at most three."""
    return "; ".join(f"{n} × {reason}" for reason, n in reasons.most_common(3))


class DeadLetterFile:
    def __init__(self, path: Path, sink: str) -> None:
        self.path = path
        self.sink = sink
        self.count = 0
        """Points added by this process."""
        self.reasons: Counter[str] = Counter()
        """Why, for the points added by this process (at most :data:`MAX_REASONS` kinds)."""
        self._stored: tuple[int, int, int] | None = None

    async def add(self, entries: Sequence[tuple[CostRecord, str, str]]) -> None:
        """Append ``(record, line, reason)`` entries durably."""
        if not entries:
            return
        at = datetime.now(UTC).isoformat()
        payload = b"".join(
            json.dumps(
                {
                    "at": at,
                    "sink": self.sink,
                    "reason": reason,
                    "line": line,
                    "record": record_to_json(record),
                },
                ensure_ascii=False,
            ).encode()
            + b"\n"
            for record, line, reason in entries
        )
        await asyncio.to_thread(self._append, payload)
        self.count += len(entries)
        for _record, _line, reason in entries:
            shown = short_reason(reason)
            if shown in self.reasons or len(self.reasons) < MAX_REASONS:
                self.reasons[shown] += 1
            else:
                self.reasons["(other reasons)"] += 1

    def _append(self, payload: bytes) -> None:
        append_locked(self.path, payload)

    def stored(self) -> int:
        """Dead letters in the file now (by this process or earlier ones, until
        ``costpipe deadletter replay`` takes them out); cached by size and mtime,
        as ``/healthz`` asks on every request."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return 0
        if self._stored is None or self._stored[:2] != (info.st_size, info.st_mtime_ns):
            with self.path.open("rb") as handle:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
            self._stored = (info.st_size, info.st_mtime_ns, lines)
        return self._stored[2]
