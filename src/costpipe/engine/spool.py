"""A durable on-disk spool in front of a sink: data is delayed, never dropped.

The core wraps every sink in a :class:`SpoolingSink`. While the store is
reachable, batches go straight through. When the sink raises
:class:`~costpipe.errors.SinkUnavailableError` (after its own retries), the
batch is written to the spool directory and :meth:`SpoolingSink.write`
returns normally: the data is safe on disk, so the provider's checkpoint may
advance. :meth:`SpoolingSink.drain` replays spooled batches in order later.

On disk: one file per batch, ``<sequence>.jsonl`` (JSON lines of records,
Decimal as text, see :mod:`costpipe.recordcodec`). A file is written under a
temporary name, fsynced and renamed, then the directory is fsynced, so after
a crash a batch is either complete or absent. A restart picks up the files.

Guarantees:

* Order: while the spool holds anything, new batches are appended to it, so
  a newer revision of a record is never overtaken by an older spooled one.
  (Two ``write`` calls racing while the store fails are ordered by which
  reaches the spool first; the core writes one provider's batches in turn.)
* A spooled batch is deleted only after the sink accepted it.
* Bounded: past 80 % of ``max_bytes`` a warning is logged (once per episode);
  a batch that does not fit is refused with ``SinkUnavailableError``, so the
  provider checkpoint does not advance and the window is fetched again later.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

import structlog
from structlog.typing import FilteringBoundLogger

from costpipe.components import Sink
from costpipe.errors import SinkUnavailableError
from costpipe.files import open_private, private_dir
from costpipe.query.api import CostReader
from costpipe.recordcodec import decode_lines, encode_lines
from costpipe.records import CostRecord

__all__ = ["SpoolingSink", "Spools"]

_SUFFIX = ".jsonl"
_WARN_FRACTION = 0.8


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolingSink:
    """Wraps *sink*; spools to *directory* (created if needed) up to *max_bytes*."""

    def __init__(
        self, sink: Sink[Any], directory: Path, max_bytes: int, log: FilteringBoundLogger
    ) -> None:
        self.sink = sink
        self.directory = directory
        self.max_bytes = max_bytes
        self.log = log
        self._lock = asyncio.Lock()
        self._drain_lock = asyncio.Lock()
        self._warned = False
        private_dir(directory)
        for leftover in directory.glob("*.tmp"):
            # A batch whose write was interrupted never got acknowledged: the
            # provider will fetch it again, so the partial file can go.
            leftover.unlink()
        self._files: dict[int, int] = {}
        for path in directory.glob(f"*{_SUFFIX}"):
            if path.stem.isdigit():
                self._files[int(path.stem)] = path.stat().st_size
        self._next = max(self._files, default=0) + 1
        if self._files:
            log.warning(
                "spool_found",
                sink=self.instance,
                batches=len(self._files),
                bytes=self.pending_bytes,
            )

    # -- passthroughs -------------------------------------------------------------

    @property
    def instance(self) -> str:
        return self.sink.instance

    async def flush(self) -> None:
        await self.sink.flush()

    async def close(self) -> None:
        await self.sink.close()

    def reader(self) -> CostReader | None:
        return self.sink.reader()

    # -- state -----------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        return sum(self._files.values())

    @property
    def pending_batches(self) -> int:
        return len(self._files)

    def _path(self, sequence: int) -> Path:
        return self.directory / f"{sequence:012d}{_SUFFIX}"

    # -- writing -----------------------------------------------------------------

    async def write(self, records: Sequence[CostRecord]) -> None:
        """Deliver *records* to the sink, or spool them durably; see the module doc."""
        if not records:
            return
        if not self._files:
            try:
                await self.sink.write(records)
                return
            except SinkUnavailableError as exc:
                self.log.warning("sink_unavailable_spooling", sink=self.instance, error=str(exc))
        await self._spool(records)

    async def _spool(self, records: Sequence[CostRecord]) -> None:
        payload = encode_lines(records)
        async with self._lock:
            used = self.pending_bytes
            if used + len(payload) > self.max_bytes:
                self.log.error(
                    "spool_full",
                    sink=self.instance,
                    bytes=used,
                    max_bytes=self.max_bytes,
                    batch_bytes=len(payload),
                )
                raise SinkUnavailableError(
                    f"sink {self.instance} is unavailable and its spool is full "
                    f"({used} of {self.max_bytes} bytes)"
                )
            sequence = self._next
            self._next += 1
            await asyncio.to_thread(self._write_file, sequence, payload)
            self._files[sequence] = len(payload)
            used += len(payload)
            if used >= _WARN_FRACTION * self.max_bytes and not self._warned:
                self._warned = True
                self.log.warning(
                    "spool_almost_full", sink=self.instance, bytes=used, max_bytes=self.max_bytes
                )

    def _write_file(self, sequence: int, payload: bytes) -> None:
        final = self._path(sequence)
        temporary = final.with_suffix(".tmp")
        with cast(IO[bytes], open_private(temporary, "wb")) as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(final)
        _fsync_dir(self.directory)

    # -- replay -------------------------------------------------------------------

    async def drain(self) -> int:
        """Replay spooled batches oldest first; return how many the sink accepted.

        Stops quietly at the first :class:`SinkUnavailableError` (the batch stays
        spooled); any other error propagates and leaves the batch in place.
        """
        drained = 0
        async with self._drain_lock:
            while self._files:
                sequence = min(self._files)
                payload = await asyncio.to_thread(self._path(sequence).read_bytes)
                records = list(decode_lines(payload))
                try:
                    await self.sink.write(records)
                except SinkUnavailableError:
                    break
                async with self._lock:
                    await asyncio.to_thread(self._path(sequence).unlink)
                    del self._files[sequence]
                    if self.pending_bytes < _WARN_FRACTION * self.max_bytes:
                        self._warned = False
                drained += 1
        if drained:
            self.log.info(
                "spool_replayed", sink=self.instance, batches=drained, left=self.pending_batches
            )
        return drained


class Spools:
    """The spool in front of each sink of a runtime, owned by the runtime: the
    pipeline writes through them, the daemon replays them between passes and
    ``/healthz`` and ``/metrics`` report their depth."""

    def __init__(self, spools: Sequence[SpoolingSink]) -> None:
        self._spools = list(spools)

    @classmethod
    def around(cls, sinks: Sequence[Sink[Any]], root: Path, max_bytes: int) -> Spools:
        """A spool under ``root/<sink instance>`` for every sink."""
        log = structlog.get_logger("costpipe")
        return cls(
            [
                SpoolingSink(
                    sink, root / sink.instance, max_bytes, log.bind(component=sink.instance)
                )
                for sink in sinks
            ]
        )

    def __iter__(self) -> Iterator[SpoolingSink]:
        return iter(self._spools)

    def __len__(self) -> int:
        return len(self._spools)

    @property
    def pending_bytes(self) -> int:
        return sum(s.pending_bytes for s in self._spools)

    @property
    def pending_batches(self) -> int:
        return sum(s.pending_batches for s in self._spools)

    async def replay(self) -> None:
        """Offer every spooled batch to its store again; a store still down keeps
        its batches, a failing replay is logged and never stops the others."""
        log = structlog.get_logger("costpipe")
        for spool in self._spools:
            try:
                drained = await spool.drain()
            except Exception as exc:
                log.error("spool_drain_failed", sink=spool.instance, error=repr(exc))
                continue
            if drained:
                log.info("spool_drained", sink=spool.instance, batches=drained)

    async def flush(self, within_seconds: float) -> None:
        """Flush every sink, giving up (logged) after *within_seconds* in all."""
        log = structlog.get_logger("costpipe")
        try:
            async with asyncio.timeout(within_seconds):
                for spool in self._spools:
                    try:
                        await spool.flush()
                    except Exception as exc:
                        log.error("flush_failed", sink=spool.instance, error=repr(exc))
        except TimeoutError:
            log.error("flush_timeout", seconds=within_seconds)
