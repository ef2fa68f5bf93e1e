"""Passes over a started runtime: a scheduled pass and a backfill.

:class:`PassRunner` wires the parts of one command together (the runtime with
its components and spools, the checkpoints, the pipeline, the recorder and,
when given, the alert engine) and opens and closes them around the passes,
with the plugins' ``costpipe_startup`` and ``costpipe_shutdown`` hooks. It
does not schedule (:mod:`costpipe.engine.daemon` does) and does not build
the alert engine: the caller passes a factory for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import pluggy
import structlog

from costpipe.allocation.runner import AllocationRun, RowStore, days_of, reallocate
from costpipe.components import Provider
from costpipe.config.settings import Settings
from costpipe.engine.deadletters import dead_letter_files, refusal_lines
from costpipe.engine.metrics import DaemonMetrics
from costpipe.engine.pipeline import PassResult, Pipeline, ProgressCallback, scheduled_windows
from costpipe.engine.recorder import PassRecorder
from costpipe.engine.runtime import Runtime
from costpipe.engine.spool import SpoolingSink, Spools
from costpipe.engine.state import Checkpoints, StatusFile
from costpipe.episodes import reminder_interval
from costpipe.plugins import call_each
from costpipe.records import Window
from costpipe.sinks.deadletter import DeadLetterFile

__all__ = ["AlertEvaluator", "AlertsFactory", "PassRunner"]

log = structlog.get_logger("costpipe")


def _now() -> datetime:
    return datetime.now(UTC)


class AlertEvaluator(Protocol):
    """What the runner needs of the alert engine (:class:`costpipe.alerts.engine.AlertEngine`)."""

    async def enqueue_due(
        self, now: datetime, last_success: Mapping[str, datetime | None]
    ) -> None: ...

    async def deliver_pending(self) -> None: ...

    def stats(self) -> dict[str, int]: ...

    def undelivered(self) -> dict[str, tuple[int, str]]: ...

    def close(self) -> None: ...


#: Builds the alert engine once the runtime's components have started.
AlertsFactory = Callable[[Settings, Runtime], AlertEvaluator]


class PassRunner:
    """Runs passes for one command; an async context manager around them."""

    def __init__(
        self,
        settings: Settings,
        pm: pluggy.PluginManager | None = None,
        *,
        alerts: AlertsFactory | None = None,
        metrics: DaemonMetrics | None = None,
        only_providers: set[str] | None = None,
        clock: Callable[[], datetime] = _now,
        progress: ProgressCallback | None = None,
        serving: bool = False,
    ) -> None:
        self.settings = settings
        self.pm = pm
        self.clock = clock
        self.runtime = Runtime.create(settings, only_providers=only_providers, serving=serving)
        state_dir = settings.pipeline.state_dir
        self.checkpoints = Checkpoints(state_dir / "checkpoints.json")
        self.recorder = PassRecorder(
            StatusFile.load(state_dir / "status.json"),
            metrics or DaemonMetrics(),
            reminder_interval(settings.alerts.stale_after),
        )
        self.stop_requested = asyncio.Event()
        """Set to end the passes in progress gracefully (see :class:`Pipeline`)."""
        self.pipeline = Pipeline(
            self.runtime.enrichers,
            [],
            self.checkpoints,
            chunk=settings.pipeline.chunk,
            stop_requested=self.stop_requested,
            progress=progress,
        )
        self._alerts_factory = alerts
        self.alerts: AlertEvaluator | None = None
        self.last_allocation: AllocationRun | None = None
        """What the last :meth:`allocate` did (None before one succeeded)."""

    # -- what /healthz and /metrics read ---------------------------------------------

    @property
    def providers(self) -> Sequence[Provider[Any]]:
        return self.runtime.providers

    @property
    def spools(self) -> Spools:
        return self.runtime.spools

    @property
    def status(self) -> StatusFile:
        return self.recorder.status

    def alert_stats(self) -> dict[str, int] | None:
        return self.alerts.stats() if self.alerts is not None else None

    def dead_letters(self) -> list[DeadLetterFile]:
        """The dead-letter files of the sinks that keep one."""
        return dead_letter_files(self.runtime.sinks)

    def report_dead_letters(self) -> list[str]:
        """Log one line per sink that refused points in this process; returns them."""
        lines = refusal_lines(self.dead_letters())
        for line in lines:
            log.error("points_refused", summary=line)
        return lines

    def undelivered_notifications(self) -> dict[str, tuple[int, str]]:
        """Per notifier whose delivery failed: notifications waiting for a retry and
        the last error (empty without alerting)."""
        return self.alerts.undelivered() if self.alerts is not None else {}

    # -- life cycle ------------------------------------------------------------------

    async def __aenter__(self) -> PassRunner:
        await self.runtime.start()
        self.pipeline.sinks = list(self.runtime.spools)
        try:
            if self._alerts_factory is not None:
                self.alerts = self._alerts_factory(self.settings, self.runtime)
        except BaseException:
            await self.runtime.close()
            raise
        if self.pm is not None:
            # One implementation at a time: a plugin raising must not skip the others.
            failures = await call_each(self.pm.hook.costpipe_startup, settings=self.settings)
            for plugin, error in failures:
                log.error("startup_hook_failed", plugin=plugin, error=repr(error))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Flush the sinks, run the shutdown hooks, close everything; never raises."""
        await self.runtime.flush()
        if self.pm is not None:
            failures = await call_each(self.pm.hook.costpipe_shutdown, settings=self.settings)
            for plugin, error in failures:
                log.error("shutdown_hook_failed", plugin=plugin, error=repr(error))
        if self.alerts is not None:
            with contextlib.suppress(Exception):
                self.alerts.close()
            self.alerts = None
        await self.runtime.close()

    # -- passes ----------------------------------------------------------------------

    async def scheduled_pass(self) -> list[PassResult]:
        """Replay the spools, fetch every provider's trailing window (reaching back
        to its checkpoint), record the results, then evaluate the alerts (their
        notifications wait in the outbox for :meth:`deliver_pending_alerts`)."""
        await self.runtime.spools.replay()
        now = self.clock()
        windows = scheduled_windows(
            self.runtime.providers, self.checkpoints, now, self.settings.pipeline.lookback
        )
        results = await self.pipeline.run(windows)
        self.recorder.record_results(results, now)
        await self.allocate(windows.values())
        await self.evaluate_alerts()
        return results

    async def backfill(self, since: datetime, until: datetime) -> list[PassResult]:
        """Fetch [since, until) for every provider, resuming an interrupted backfill."""
        await self.runtime.spools.replay()
        windows = {p: Window(since, until) for p in self.runtime.providers}
        started = self.clock()
        results = await self.pipeline.run(windows, backfill=True)
        self.recorder.record_results(results, started)
        await self.allocate(windows.values())
        return results

    async def allocate(self, windows: Iterable[Window]) -> AllocationRun | None:
        """Allocate the bills of every UTC day *windows* touch (``costpipe.allocation``).

        Each store that gives its rows back is allocated from its own rows, so a
        store that missed a write (a crash between two sinks, a spool not yet
        replayed) catches up on the next pass instead of being compared with
        another store; sinks that cannot be read get the first store's writes.
        A store that fails is logged and skipped: the next pass allocates those
        days again. Returns the first store's run (None when no store could)."""
        days = days_of(windows)
        readable: list[tuple[SpoolingSink, RowStore]] = []
        blind: list[SpoolingSink] = []
        for spool in self.runtime.spools:
            reader: object = spool.sink.reader()
            if isinstance(reader, RowStore):
                readable.append((spool, reader))
            else:
                blind.append(spool)
        first: AllocationRun | None = None
        for index, (spool, store) in enumerate(readable):
            targets = [spool, *blind] if index == 0 else [spool]
            try:
                run = await reallocate(store, targets, days)
            except Exception as exc:  # allocation must never stop ingestion
                log.error("allocation_failed", sink=spool.sink.instance, error=repr(exc))
                continue
            log.info(
                "allocated",
                sink=spool.sink.instance,
                days=len(run.days),
                written=run.written,
                zeroed=run.zeroed,
                # Billed money no usage row took, and usage that took no share
                # because it has no price (docs/allocation.md).
                unattributed_usd=f"{Decimal(run.unattributed_nanos).scaleb(-9):f}",
                unpriced_models=sorted({slot[3] for slot in run.allocation.unpriced_tokens}),
            )
            first = first or run
        if first is not None:
            self.last_allocation = first
        return first

    async def evaluate_alerts(self) -> None:
        if self.alerts is None:
            return
        try:
            await self.alerts.enqueue_due(self.clock(), self.status.last_success())
        except Exception as exc:  # alerting must never stop ingestion
            log.exception("alert_evaluation_failed", error=repr(exc))

    async def deliver_pending_alerts(self) -> bool:
        """Deliver what the outbox holds; False if a notification could not be
        delivered (it stays in the outbox, or was rejected for good)."""
        if self.alerts is None:
            return True
        rejected_before = self.alerts.stats().get("rejected", 0)
        try:
            await self.alerts.deliver_pending()
        except Exception as exc:  # delivery is retried from the outbox next time
            log.error("alert_delivery_failed", error=repr(exc))
            return False
        stats = self.alerts.stats()
        return not stats.get("failed", 0) and stats.get("rejected", 0) <= rejected_before
