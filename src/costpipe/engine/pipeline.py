"""One pass: fetch -> enrich -> write, for every provider instance at once.

No scheduling and no CLI here. Each provider instance runs in its own task;
inside a task, pages stream through as batches: the next pages are fetched
and decoded while up to ``writes_in_flight`` (1) earlier batches are being
written (across piece boundaries too), and never more than that, so a
backfill of millions of rows holds ``writes_in_flight + 1`` batches at a
time. A window is cut into pieces (``pipeline.chunk``); a piece's checkpoint
is saved only after every sink accepted all of its batches and every batch
before them, and no page of it was set aside (:mod:`costpipe.engine.inflight`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import structlog

from costpipe.components import Enricher, Provider
from costpipe.engine.inflight import OrderedWrites
from costpipe.engine.state import Checkpoints
from costpipe.errors import AuthError, CostpipeError, TransientError
from costpipe.records import CostRecord, Window

__all__ = ["BatchWriter", "Outcome", "PassResult", "Pipeline", "scheduled_windows"]

log = structlog.get_logger("costpipe")


class BatchWriter(Protocol):
    """What the pipeline needs of a sink (a :class:`~costpipe.components.Sink`
    or the spool that wraps one)."""

    @property
    def instance(self) -> str: ...

    async def write(self, records: Sequence[CostRecord]) -> None: ...


class Outcome(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    """Finished, but some pages were set aside (malformed)."""
    AUTH = "auth"
    """A credential was refused: a human must act."""
    FAILED = "failed"
    """Retries exhausted, a store refused the data, or the plugin crashed."""
    STOPPED = "stopped"
    """Interrupted by a graceful stop; resumes from its checkpoint."""


@dataclass(slots=True)
class PassResult:
    instance: str
    window: Window
    outcome: Outcome = Outcome.OK
    records: int = 0
    batches: int = 0
    pieces_done: int = 0
    pieces_total: int = 0
    error: str | None = None
    seconds: float = 0.0
    """How long the pass took (monotonic clock)."""

    @property
    def healthy(self) -> bool:
        return self.outcome in (Outcome.OK, Outcome.STOPPED)


#: Called after each piece: (instance, pieces done, pieces total, records so far).
ProgressCallback = Callable[[str, int, int, int], None]


@dataclass(slots=True)
class Pipeline:
    """Moves records from providers through enrichers to sinks."""

    enrichers: Sequence[Enricher[Any]]
    sinks: Sequence[BatchWriter]
    checkpoints: Checkpoints
    chunk: timedelta = timedelta(days=7)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to end every provider's pass gracefully: see :meth:`_transfer`."""
    progress: ProgressCallback | None = None
    writes_in_flight: int = 1
    """Batches of one provider being written while its next pages are fetched and
    decoded. One already overlaps decoding with writing, across pieces too (a
    large page decodes in a worker thread, see
    :func:`~costpipe.providers.planning.fetch_planned`, so the write's requests
    go on meanwhile, and the sink keeps two requests in flight of its own); each
    more holds one more page of records in memory (an hourly OpenAI page is
    about 50k rows), against the backfill's memory goal."""

    async def run(
        self,
        windows: Mapping[Provider[Any], Window],
        *,
        backfill: bool = False,
    ) -> list[PassResult]:
        """Run every provider over its window concurrently; one provider's failure
        never affects the others."""
        tasks = [
            asyncio.create_task(self.run_provider(p, w, backfill=backfill), name=p.instance)
            for p, w in windows.items()
        ]
        return list(await asyncio.gather(*tasks))

    async def run_provider(
        self, provider: Provider[Any], window: Window, *, backfill: bool = False
    ) -> PassResult:
        began = asyncio.get_running_loop().time()
        result = await self._run_provider(provider, window, backfill=backfill)
        result.seconds = asyncio.get_running_loop().time() - began
        return result

    async def _run_provider(
        self, provider: Provider[Any], window: Window, *, backfill: bool
    ) -> PassResult:
        result = PassResult(provider.instance, window)
        start = window.start
        if backfill:
            resumed = self.checkpoints.backfill_progress(
                provider.instance, window.start, window.end
            )
            if resumed is not None and window.start < resumed <= window.end:
                log.info("backfill_resumed", provider=provider.instance, since=resumed.isoformat())
                start = resumed
        pieces = Window(start, window.end).split(self.chunk)
        result.pieces_total = len(pieces)
        writes = OrderedWrites(self.writes_in_flight)
        clean = True
        try:
            try:
                for piece in pieces:
                    if self.stop_requested.is_set():
                        result.outcome = Outcome.STOPPED
                        break
                    set_aside_before = provider.pages_set_aside
                    finished = await self._transfer(provider, piece, result, writes)
                    if not finished:
                        result.outcome = Outcome.STOPPED
                        break
                    if provider.pages_set_aside > set_aside_before:
                        # The malformed page's data is missing: keep the checkpoint here so
                        # that the next pass fetches this piece again.
                        clean = False
                        result.outcome = Outcome.PARTIAL
                        result.error = (
                            f"{provider.pages_set_aside - set_aside_before} page(s) set aside"
                        )
                    # Runs once this piece's batches, and all before them, were accepted.
                    writes.then(
                        self._piece_written(provider, window, piece, result, clean, backfill)
                    )
            finally:
                # Every batch in flight is finished, also when stopping or failing.
                await writes.drain()
            if backfill and clean and result.outcome is Outcome.OK:
                self.checkpoints.backfill_done(provider.instance, window.start, window.end)
        except AuthError as exc:
            result.outcome, result.error = Outcome.AUTH, str(exc)
        except CostpipeError as exc:
            result.outcome, result.error = Outcome.FAILED, str(exc)
        except Exception as exc:  # a plugin bug fails this provider's run, not the daemon
            log.exception("provider_crashed", provider=provider.instance)
            result.outcome, result.error = Outcome.FAILED, f"unexpected error: {exc!r}"
        return result

    def _piece_written(
        self,
        provider: Provider[Any],
        window: Window,
        piece: Window,
        result: PassResult,
        clean: bool,
        backfill: bool,
    ) -> Callable[[], None]:
        def advance() -> None:
            if clean:
                if backfill:
                    self.checkpoints.backfill_advance(
                        provider.instance, window.start, window.end, piece.end
                    )
                else:
                    self.checkpoints.advance(provider.instance, piece.end)
                    provider.checkpointed(piece.end)
            result.pieces_done += 1
            if self.progress is not None:
                self.progress(
                    provider.instance, result.pieces_done, result.pieces_total, result.records
                )

        return advance

    async def _transfer(
        self, provider: Provider[Any], piece: Window, result: PassResult, writes: OrderedWrites
    ) -> bool:
        """Stream one piece; return False if a stop interrupted it.

        The stop event is checked on every page, empty ones included, and also
        while a page is awaited: a provider that pages forever without records
        (or sits in a long retry back-off) must not keep a SIGTERM waiting. The
        batch being written when a stop or an error arrives is always finished
        first (by the caller's :meth:`OrderedWrites.drain`); the page being
        fetched is abandoned (fetching is re-runnable).
        """
        stream = aiter(provider.fetch(piece))
        stopping = asyncio.ensure_future(self.stop_requested.wait())
        page: asyncio.Future[Sequence[CostRecord]] | None = None
        try:
            while True:
                page = asyncio.ensure_future(anext(stream))
                await asyncio.wait({page, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not page.done():
                    return False
                try:
                    batch = page.result()
                except StopAsyncIteration:
                    return True
                if batch:
                    enriched = await self._enrich(batch)
                    await writes.submit(self._write(enriched))
                    result.records += len(enriched)
                    result.batches += 1
                if self.stop_requested.is_set():
                    return False
        finally:
            stopping.cancel()
            if page is not None and not page.done():
                page.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await page
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    async def _enrich(self, batch: Sequence[CostRecord]) -> Sequence[CostRecord]:
        for enricher in self.enrichers:
            batch = await enricher.enrich(batch)
        return batch

    async def _write(self, batch: Sequence[CostRecord]) -> None:
        outcomes = await asyncio.gather(
            *(sink.write(batch) for sink in self.sinks), return_exceptions=True
        )
        for sink, outcome in zip(self.sinks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, CostpipeError):
                    raise TransientError(f"sink {sink.instance}: {outcome}") from outcome
                raise TransientError(f"sink {sink.instance} failed: {outcome!r}") from outcome


def scheduled_windows(
    providers: Sequence[Provider[Any]],
    checkpoints: Checkpoints,
    now: datetime,
    lookback: timedelta,
) -> dict[Provider[Any], Window]:
    """The window of each provider for a scheduled pass: the trailing *lookback*,
    reaching further back to the checkpoint when the daemon was down longer."""
    windows: dict[Provider[Any], Window] = {}
    for provider in providers:
        start = now - lookback
        checkpoint = checkpoints.get(provider.instance)
        if checkpoint is not None and checkpoint < start:
            start = checkpoint
        windows[provider] = Window(start, now)
    return windows
