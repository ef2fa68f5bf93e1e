"""The usage journal: one line per metered request, appended in batches.

Layout: ``<state_dir>/journal/<YYYY-MM-DDTHH>.jsonl``, one file per UTC hour of
the events it holds (the hour a request finished), created ``0600`` in a ``0700``
directory (:mod:`costpipe.files`). Files are only ever appended to (``O_APPEND``,
one ``write`` per batch and file, so two writers, the old and the new
configuration during a reload, never interleave inside a line) and deleted
whole by :meth:`Journal.compact` once the hour is checkpointed.

Durability: events wait in memory in the *open batch* until it holds
``journal_batch_events`` events or ``journal_flush_interval`` has passed since
its first event; the batch is then written (in the event loop: a page-cache
write of a few kilobytes) and fsynced in a worker thread, so the proxy never
waits for the disk. A ``kill -9`` loses at most the open batch; a power cut,
in addition, the batch whose fsync had not returned. A line cut short by a
crash is skipped when read, and the next writer starts on a fresh line.

No line holds a bearer token: the caller is stored as user, project and the
token's hash (:func:`costpipe.providers.ollama.identity.key_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import structlog

from costpipe.files import FILE_MODE, private_dir

__all__ = ["Journal", "UsageEvent"]

log = structlog.get_logger("costpipe")
_HOUR = timedelta(hours=1)
_SUFFIX = ".jsonl"


class UsageEvent(msgspec.Struct, frozen=True, gc=False):
    """One metered request. ``at`` is when it finished, Unix nanoseconds UTC."""

    at: int
    route: str
    model: str
    user: str
    project: str = ""
    api_key_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ns: int = 0
    counted: bool = True
    """False: the answer carried no token counts (one request, tokens unknown)."""


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(UsageEvent)


def _hour_of(at_ns: int) -> datetime:
    moment = datetime.fromtimestamp(at_ns // 1_000_000_000, UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _file_name(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H") + _SUFFIX


class Journal:
    """Appends :class:`UsageEvent` lines in batches and reads them back by hour.

    :meth:`append` is synchronous and never blocks on the disk; :meth:`flush`
    writes the open batch now and waits for its fsync. One instance per writer;
    call :meth:`start` in the event loop and :meth:`close` at the end.
    """

    def __init__(self, directory: Path, *, batch_events: int, flush_interval: float) -> None:
        self.directory = directory
        self.batch_events = batch_events
        self.flush_interval = flush_interval
        self._open: list[UsageEvent] = []
        self._fds: dict[str, int] = {}
        self._unsynced: set[int] = set()
        self._sync_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._syncing: set[asyncio.Task[None]] = set()
        self.events_written = 0
        self.lines_skipped = 0

    # -- writing ----------------------------------------------------------------------

    def start(self) -> None:
        private_dir(self.directory)

    def append(self, event: UsageEvent) -> None:
        self._open.append(event)
        if len(self._open) >= self.batch_events:
            self._write_open_batch()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_interval, self._write_open_batch)

    def _write_open_batch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._open = self._open, []
        if not batch:
            return
        by_file: dict[str, list[bytes]] = {}
        for event in batch:
            by_file.setdefault(_file_name(_hour_of(event.at)), []).append(
                _ENCODER.encode(event) + b"\n"
            )
        try:
            for name, lines in by_file.items():
                fd = self._fd(name)
                os.write(fd, b"".join(lines))
                self._unsynced.add(fd)
        except OSError as exc:
            # The proxy keeps serving; the events of this batch are lost and said so once.
            log.error(
                "journal_write_failed",
                directory=str(self.directory),
                error=str(exc),
                events_lost=len(batch),
            )
            return
        self.events_written += len(batch)
        task = asyncio.get_running_loop().create_task(self._sync())
        self._syncing.add(task)
        task.add_done_callback(self._syncing.discard)

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is not None:
            return fd
        # Only the current hour's file stays open; older ones are closed once synced.
        path = self.directory / name
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        size = os.fstat(fd).st_size
        if size:
            # A crash may have cut the last line: start on a fresh one, so the torn
            # line stays one bad line instead of spoiling the next good one too.
            with open(path, "rb") as existing:
                existing.seek(size - 1)
                if existing.read(1) != b"\n":
                    os.write(fd, b"\n")
        if created:
            self._sync_directory()
        self._fds[name] = fd
        return fd

    def _sync_directory(self) -> None:
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def _sync(self) -> None:
        async with self._sync_lock:
            fds, self._unsynced = self._unsynced, set()
            if fds:
                await asyncio.to_thread(self._fsync_all, fds)

    def _fsync_all(self, fds: set[int]) -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.fsync(fd)

    async def flush(self) -> None:
        """Write the open batch now and wait until everything written is fsynced."""
        self._write_open_batch()
        if self._syncing:
            await asyncio.gather(*list(self._syncing), return_exceptions=True)
        await self._sync()
        self._close_old_files()

    def _close_old_files(self) -> None:
        if len(self._fds) <= 1:
            return
        newest = max(self._fds)
        for name in [n for n in self._fds if n != newest]:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop(name))

    async def close(self) -> None:
        await self.flush()
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    @property
    def pending(self) -> int:
        """Events in the open batch (what a ``kill -9`` now would lose)."""
        return len(self._open)

    # -- reading and compaction ---------------------------------------------------------

    def hours(self) -> list[datetime]:
        """The hours that have a journal file, oldest first."""
        found = []
        for path in self.directory.glob("*" + _SUFFIX):
            with contextlib.suppress(ValueError):
                found.append(datetime.strptime(path.stem, "%Y-%m-%dT%H").replace(tzinfo=UTC))
        return sorted(found)

    def read_hour(self, hour: datetime) -> Iterator[UsageEvent]:
        """The events of the UTC hour starting at *hour*; torn or foreign lines are
        skipped (counted in ``lines_skipped``)."""
        path = self.directory / _file_name(hour)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, read line by line
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    event = _DECODER.decode(line)
                except msgspec.DecodeError:
                    self.lines_skipped += 1
                    continue
                if _hour_of(event.at) != hour:
                    self.lines_skipped += 1
                    continue
                yield event

    def compact(self, before: datetime) -> int:
        """Delete the files of the hours that end at or before *before* (their data is
        checkpointed: stored in every sink); return how many."""
        removed = 0
        for hour in self.hours():
            if hour + _HOUR <= before:
                name = _file_name(hour)
                fd = self._fds.pop(name, None)
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()
                    removed += 1
        return removed
