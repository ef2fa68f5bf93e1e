"""What the daemon remembers of each pass: ``status.json``, the metrics and
one log line per change of a provider's state (plus a reminder at most every
``remind_every`` while a provider keeps failing)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog

from costpipe.engine.metrics import DaemonMetrics
from costpipe.engine.pipeline import Outcome, PassResult
from costpipe.engine.state import ProviderStatus, StatusFile
from costpipe.episodes import DEFAULT_REMINDER
from costpipe.redaction import safe_excerpt

__all__ = ["ERROR_LIMIT", "PassRecorder", "shown_error"]

log = structlog.get_logger("costpipe")

#: ``status.json`` and ``/healthz`` show at most this much of an error.
ERROR_LIMIT = 1000
_FAILED = {Outcome.AUTH.value, Outcome.FAILED.value, Outcome.PARTIAL.value}
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^/\s@]*@", re.IGNORECASE)


def shown_error(error: str | None) -> str | None:
    """*error* as ``status.json`` and ``/healthz`` may show it: errors can quote
    provider answers and URLs, so user info in URLs and anything secret-shaped
    is masked first, then the text is bounded."""
    if error is None:
        return None
    return safe_excerpt(_USERINFO.sub(r"\1", error), limit=ERROR_LIMIT)


class PassRecorder:
    """Keeps the status file and the metrics up to date with pass results."""

    def __init__(
        self,
        status: StatusFile,
        metrics: DaemonMetrics,
        remind_every: timedelta = DEFAULT_REMINDER,
    ) -> None:
        self.status = status
        self.metrics = metrics
        self.remind_every = remind_every
        self._reminded: dict[str, datetime] = {}

    def record_results(self, results: Sequence[PassResult], started: datetime) -> None:
        """Store the outcome of the passes that began at *started*, then save
        ``status.json``. A failure is logged when the state changes (then a
        shorter warning at most every ``remind_every`` while it keeps failing), not
        once per pass."""
        for result in results:
            self.metrics.observe_pass(result)
            self._update_status(result, started)
        self.status.save()

    def _update_status(self, result: PassResult, started: datetime) -> None:
        status = self.status.providers.setdefault(result.instance, ProviderStatus())
        previous = status.state
        status.last_attempt = started.isoformat()
        status.records = result.records
        if result.outcome is Outcome.OK:
            status.last_success = started.isoformat()
            status.last_error = None
        elif result.outcome is not Outcome.STOPPED:
            status.last_error = shown_error(result.error)
        if result.outcome is not Outcome.STOPPED or previous not in _FAILED:
            # An interrupted pass proves nothing: a provider known to fail stays failed.
            status.state = result.outcome.value
        if result.outcome is Outcome.OK:
            log.info(
                "pass_done",
                provider=result.instance,
                records=result.records,
                batches=result.batches,
            )
            if previous not in (Outcome.OK.value, Outcome.STOPPED.value, "unknown"):
                log.info("provider_recovered", provider=result.instance)
        elif result.outcome is Outcome.STOPPED:
            log.info("pass_stopped", provider=result.instance, records=result.records)
        elif previous != result.outcome.value:
            self._reminded[result.instance] = started
            log.error(
                "provider_failed",
                provider=result.instance,
                outcome=result.outcome.value,
                error=shown_error(result.error),
            )
        else:
            last = self._reminded.setdefault(result.instance, started)
            if started - last >= self.remind_every:
                self._reminded[result.instance] = started
                log.warning(
                    "provider_still_failing",
                    provider=result.instance,
                    outcome=result.outcome.value,
                    since=status.last_success,
                )
        if result.outcome in (Outcome.OK, Outcome.STOPPED):
            self._reminded.pop(result.instance, None)
