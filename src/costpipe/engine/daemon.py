"""The long-lived loop of ``costpipe run``: it schedules passes and handles
signals, nothing else (the passes themselves are :class:`~costpipe.engine.passes.PassRunner`'s).

* SIGTERM and SIGINT request a graceful stop: the pipeline finishes the batch
  it is writing, stops fetching (checked on every page), sinks are flushed and
  the process exits 0 within ``pipeline.shutdown_timeout``. Data not yet
  checkpointed is fetched again on the next start (writes are idempotent).
* SIGHUP reloads the configuration when a reload function is given (see
  :mod:`costpipe.engine.reload`): between passes, never in the middle of one;
  an invalid file is logged and the daemon carries on with the old one.
  Without a reload function (``run --once``, ``backfill``) SIGHUP stops
  gracefully, as a hang-up of the terminal should.

Notifications are delivered from the alert outbox by a task of their own,
woken at the start and after each pass: a notifier that hangs or refuses (each delivery retries
with back-off) never delays the next pass. The task is paused around a
reload and cancelled on stop; what it did not deliver stays in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

import structlog

from costpipe.engine.passes import PassRunner
from costpipe.engine.pipeline import Outcome

__all__ = ["SPOOL_RETRY_SECONDS", "Daemon", "Reload"]

log = structlog.get_logger("costpipe")

#: How often a non-empty spool is offered to its store between passes.
SPOOL_RETRY_SECONDS = 30.0

#: Given the runner in use, returns its replacement, or None to keep it.
Reload = Callable[[PassRunner], Awaitable[PassRunner | None]]


class Daemon:
    """Runs :meth:`PassRunner.scheduled_pass` every ``pipeline.interval`` until stopped."""

    def __init__(self, runner: PassRunner, *, reload: Reload | None = None) -> None:
        self.runner = runner
        self._reload = reload
        self.stop_requested = asyncio.Event()
        self._reload_requested = False
        self._wake = asyncio.Event()
        self._deliver_now = asyncio.Event()
        self._delivery: asyncio.Task[None] | None = None

    # -- signals ---------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        handlers: dict[signal.Signals, Callable[[], None]] = {
            signal.SIGTERM: lambda: self.request_stop("SIGTERM"),
            signal.SIGINT: lambda: self.request_stop("SIGINT"),
            signal.SIGHUP: self.request_reload
            if self._reload is not None
            else lambda: self.request_stop("SIGHUP"),
        }
        for sig, handler in handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)

    def request_stop(self, reason: str) -> None:
        """End the pass in progress gracefully and run no other."""
        if not self.stop_requested.is_set():
            log.warning("stopping", signal=reason)
        self.stop_requested.set()
        self.runner.stop_requested.set()
        self._wake.set()

    def request_reload(self) -> None:
        """Reload the configuration after the pass in progress, if any."""
        log.info("reload_requested", signal="SIGHUP")
        self._reload_requested = True
        self._wake.set()

    # -- schedule --------------------------------------------------------------------

    async def run(self, *, once: bool = False) -> int:
        """Run passes on the schedule until stopped; returns the exit code:
        with ``once``, 1 unless every provider's pass succeeded, every point was
        stored and every notification delivered."""
        if once:
            return await self._run_once()
        self._start_delivery()
        self._deliver_now.set()  # what an earlier run or the caller left in the outbox
        try:
            while not self.stop_requested.is_set():
                await self._reload_if_requested()
                if self.stop_requested.is_set():  # a stop arrived during the reload
                    break
                await self.runner.scheduled_pass()
                self._deliver_now.set()
                await self._wait_for_next_pass()
        finally:
            await self._stop_delivery()
        return 0

    async def _run_once(self) -> int:
        results = await self.runner.scheduled_pass()
        delivered = await self.runner.deliver_pending_alerts()
        refused = self.runner.report_dead_letters()
        passed = all(r.outcome is Outcome.OK for r in results)
        return 0 if passed and delivered and not refused else 1

    # -- delivery beside the schedule ------------------------------------------------

    def _start_delivery(self) -> None:
        self._delivery = asyncio.create_task(self._deliver_forever(), name="alert-delivery")

    async def _stop_delivery(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
            self._delivery = None

    async def _deliver_forever(self) -> None:
        """Deliver the outbox after each pass, one delivery at a time."""
        while True:
            await self._deliver_now.wait()
            self._deliver_now.clear()
            await self.runner.deliver_pending_alerts()

    async def _reload_if_requested(self) -> None:
        if not self._reload_requested or self._reload is None:
            return
        self._reload_requested = False
        # The old runner's alert state closes with it: no delivery may run across.
        await self._stop_delivery()
        try:
            replacement = await self._reload(self.runner)
        finally:
            self._start_delivery()
        if replacement is not None:
            self.runner = replacement
            self._deliver_now.set()
            if self.stop_requested.is_set():
                replacement.stop_requested.set()

    async def _wait_for_next_pass(self) -> None:
        """Sleep until the next pass is due, a stop or a reload; meanwhile replay
        spooled batches as soon as the store answers again, instead of a whole
        interval later. A reload starts a pass right away on the new configuration."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.runner.settings.pipeline.interval.total_seconds()
        while not self.stop_requested.is_set() and not self._reload_requested:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, SPOOL_RETRY_SECONDS)):
                    await self._wake.wait()
            if self.stop_requested.is_set() or self._reload_requested:
                return
            if self.runner.spools.pending_batches:
                await self.runner.spools.replay()
