"""The long-lived loop: schedule, signals, graceful shutdown, status and alerts.

``costpipe run`` and ``costpipe backfill`` both go through :class:`Daemon`.
SIGTERM and SIGINT set a stop event: the pipeline finishes the batch it is
writing, stops fetching, sinks are flushed and the process exits 0 within
``pipeline.shutdown_timeout``. Data not yet checkpointed is fetched again on
the next start (writes are idempotent), so a stop loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pluggy
import structlog

from costpipe.config.settings import Settings
from costpipe.engine.metrics import Metrics
from costpipe.engine.pipeline import Outcome, PassResult, Pipeline, ProgressCallback, run_windows
from costpipe.engine.runtime import Runtime, store_specs
from costpipe.engine.spool import SpoolingSink
from costpipe.engine.state import Checkpoints, ProviderStatus, StatusFile
from costpipe.plugins import call_each
from costpipe.records import Window

__all__ = ["Daemon"]

log = structlog.get_logger("costpipe")

#: How often a non-empty spool is offered to its store between passes.
SPOOL_RETRY_SECONDS = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """Owns a :class:`Runtime` for the duration of a command."""

    def __init__(
        self,
        settings: Settings,
        pm: pluggy.PluginManager | None = None,
        *,
        only_providers: set[str] | None = None,
        clock: Callable[[], datetime] = _now,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.pm = pm
        self.clock = clock
        self.stop = asyncio.Event()
        self.runtime = Runtime.create(settings, only_providers=only_providers)
        state_dir = settings.pipeline.state_dir
        self.checkpoints = Checkpoints(state_dir / "checkpoints.json")
        self.status = StatusFile.load(state_dir / "status.json")
        self.metrics = Metrics()
        self.spooled: list[SpoolingSink] = [
            SpoolingSink(
                sink,
                state_dir / "spool" / sink.instance,
                settings.pipeline.spool_max_bytes,
                log.bind(component=sink.instance),
            )
            for sink in self.runtime.sinks
        ]
        self.pipeline = Pipeline(
            self.runtime.enrichers,
            self.spooled,
            self.checkpoints,
            chunk=settings.pipeline.chunk,
            stop=self.stop,
            progress=progress,
        )
        self.alerts: Any = None
        self.health: Any = None

    # -- life cycle ------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self.stop.is_set():
            log.warning("stopping", signal=sig.name)
        self.stop.set()

    async def __aenter__(self) -> Daemon:
        await self.runtime.start()
        self.alerts = self._build_alert_engine()
        if self.pm is not None:
            # One implementation at a time: a plugin raising must not skip the others.
            failures = await call_each(self.pm.hook.costpipe_startup, settings=self.settings)
            for plugin, error in failures:
                log.error("startup_hook_failed", plugin=plugin, error=repr(error))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        timeout = self.settings.pipeline.shutdown_timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                for sink in self.spooled:
                    try:
                        await sink.flush()
                    except Exception as exc:
                        log.error("flush_failed", sink=sink.instance, error=repr(exc))
        except TimeoutError:
            log.error("flush_timeout", seconds=timeout)
        if self.pm is not None:
            failures = await call_each(self.pm.hook.costpipe_shutdown, settings=self.settings)
            for plugin, error in failures:
                log.error("shutdown_hook_failed", plugin=plugin, error=repr(error))
        if self.health is not None:
            await self.health.stop()
        if self.alerts is not None:
            with contextlib.suppress(Exception):
                self.alerts.close()
        await self.runtime.close()

    def _build_alert_engine(self) -> Any:
        from costpipe.alerts.engine import AlertEngine

        reader = self.reader()
        return AlertEngine(
            self.settings,
            reader,
            self.runtime.notifiers,
            self.settings.pipeline.state_dir / "alerts",
            log.bind(component="alerts"),
        )

    def reader(self) -> Any:
        """The query layer of the configured (or first readable) store."""
        readable = {spec.instance for spec in store_specs(self.settings)}
        for sink in self.runtime.sinks:
            reader = sink.reader() if sink.instance in readable else None
            if reader is not None:
                return reader
        return None

    # -- passes ----------------------------------------------------------------

    async def run_pass(self) -> list[PassResult]:
        """One scheduled pass: drain spools, fetch every provider's window, then
        evaluate alerts."""
        await self.drain_spools()
        now = self.clock()
        windows = run_windows(
            self.runtime.providers, self.checkpoints, now, self.settings.pipeline.lookback
        )
        results = await self.pipeline.run(windows)
        self._record(results, now)
        await self.evaluate_alerts()
        return results

    async def backfill(self, since: datetime, until: datetime) -> list[PassResult]:
        await self.drain_spools()
        windows = {p: Window(since, until) for p in self.runtime.providers}
        started = self.clock()
        results = await self.pipeline.run(windows, backfill=True)
        self._record(results, started)
        return results

    async def drain_spools(self) -> None:
        for sink in self.spooled:
            try:
                drained = await sink.drain()
            except Exception as exc:
                log.error("spool_drain_failed", sink=sink.instance, error=repr(exc))
                continue
            if drained:
                log.info("spool_drained", sink=sink.instance, batches=drained)

    async def evaluate_alerts(self) -> None:
        if self.alerts is None:
            return
        try:
            await self.alerts.evaluate(self.clock(), self.status.last_success())
        except Exception as exc:  # alerting must never stop ingestion
            log.exception("alert_evaluation_failed", error=repr(exc))

    def _record(self, results: Sequence[PassResult], started: datetime) -> None:
        for result in results:
            status = self.status.providers.setdefault(result.instance, ProviderStatus())
            previous = status.state
            status.last_attempt = started.isoformat()
            status.records = result.records
            self.metrics.record_pass(result)
            if result.outcome is Outcome.OK:
                status.last_success = started.isoformat()
                status.last_error = None
            elif result.outcome is not Outcome.STOPPED:
                status.last_error = result.error
            status.state = result.outcome.value
            # Log on a change of state, not on every failing pass (no log spam).
            if result.outcome is Outcome.OK:
                event = "provider_recovered" if previous not in ("ok", "unknown") else None
                log.info(
                    "pass_done",
                    provider=result.instance,
                    records=result.records,
                    batches=result.batches,
                )
                if event:
                    log.info(event, provider=result.instance)
            elif result.outcome is Outcome.STOPPED:
                log.info("pass_stopped", provider=result.instance, records=result.records)
            elif previous != result.outcome.value:
                log.error(
                    "provider_failed",
                    provider=result.instance,
                    outcome=result.outcome.value,
                    error=result.error,
                )
            else:
                log.warning(
                    "provider_still_failing", provider=result.instance, outcome=result.outcome.value
                )
        for provider in self.runtime.providers:
            self.metrics.pages_fetched[provider.instance] = provider.pages_fetched
            self.metrics.retries[provider.instance] = provider.retries
            self.metrics.pages_set_aside[provider.instance] = provider.pages_set_aside
        self.status.save()

    async def run_forever(self, *, once: bool = False) -> int:
        """Run passes on the schedule until stopped. Returns the exit code."""
        interval = self.settings.pipeline.interval.total_seconds()
        exit_code = 0
        while not self.stop.is_set():
            results = await self.run_pass()
            if once:
                exit_code = 0 if all(r.outcome is Outcome.OK for r in results) else 1
                break
            if self.alerts is not None:
                with contextlib.suppress(Exception):
                    await self.alerts.deliver_pending()
            await self._idle(interval)
        return exit_code

    async def _idle(self, seconds: float) -> None:
        """Wait for the next pass; meanwhile replay spooled batches as soon as
        the store answers again, instead of a whole interval later."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.stop.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, SPOOL_RETRY_SECONDS)):
                    await self.stop.wait()
            if not self.stop.is_set() and any(s.pending_batches for s in self.spooled):
                await self.drain_spools()

    def spool_bytes(self) -> int:
        return sum(s.pending_bytes for s in self.spooled)
