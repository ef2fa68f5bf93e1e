"""Builds the parts the engine is given rather than builds itself: the alert
engine over the runtime's readable store and notifiers."""

from __future__ import annotations

import structlog

from costpipe.alerts.engine import AlertEngine
from costpipe.alerts.suppression import Suppressor
from costpipe.config.settings import Settings
from costpipe.engine.runtime import Runtime, store_specs
from costpipe.query.api import CostReader
from costpipe.reports.scheduler import ReportScheduler
from costpipe.reports.service import AlertsWithReports

__all__ = ["alert_engine_for", "readable_store"]


def readable_store(settings: Settings, runtime: Runtime) -> CostReader | None:
    """The query layer of ``[dashboard] store``, else of the first sink that has one."""
    readable = {spec.instance for spec in store_specs(settings)}
    for sink in runtime.sinks:
        reader = sink.reader() if sink.instance in readable else None
        if reader is not None:
            return reader
    return None


def alert_engine_for(settings: Settings, runtime: Runtime) -> AlertEngine | AlertsWithReports:
    """The alert engine of *settings*, reading through the runtime's store and
    delivering through its started notifiers; its state is ``<state_dir>/alerts``.
    Silences and maintenance windows gate its outbox; ``[[reports]]`` add digests."""
    alerts_dir = settings.pipeline.state_dir / "alerts"
    log = structlog.get_logger("costpipe").bind(component="alerts")
    reader = readable_store(settings, runtime)
    engine = AlertEngine(settings, reader, runtime.notifiers, alerts_dir, log)
    engine.outbox.gate = Suppressor.for_settings(settings, alerts_dir)
    if not settings.reports:
        return engine
    reports = ReportScheduler(settings, reader, runtime.notifiers, engine.state, engine.outbox, log)
    return AlertsWithReports(engine, reports)
