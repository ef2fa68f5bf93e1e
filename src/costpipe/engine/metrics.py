"""The daemon's Prometheus metrics, kept and rendered by ``prometheus-client``.

Each daemon has its own :class:`~prometheus_client.CollectorRegistry` (never
the library's global one), so two daemons in one process, or the tests, do
not share counters. Besides costpipe's own families the registry carries the
library's standard process and Python collectors (``process_resident_memory_bytes``,
``process_open_fds``, ``python_gc_*``, ``python_info``).

Two kinds of families:

* kept here, updated after each pass by :meth:`DaemonMetrics.observe_pass`
  (records ingested, passes by outcome, failed passes, pass duration, last success);
* read at scrape time from the live objects (:class:`MetricsSource`): the page,
  set-aside and retry counters each provider keeps, the spools' depth, the
  points each sink dead-lettered (and how many wait in its file) and the
  alert outbox. After a configuration reload the providers are new objects and
  their counters start again from zero, which Prometheus treats as a counter reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from costpipe import __version__

if TYPE_CHECKING:
    from costpipe.components import Provider
    from costpipe.engine.pipeline import PassResult
    from costpipe.engine.spool import Spools
    from costpipe.sinks.deadletter import DeadLetterFile

__all__ = ["CONTENT_TYPE", "DaemonMetrics", "MetricsSource"]

#: The media type of :meth:`DaemonMetrics.render`.
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Pass durations range from milliseconds (nothing new) to an hour (a long backfill).
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class MetricsSource(Protocol):
    """The live objects read at each scrape."""

    @property
    def providers(self) -> Sequence[Provider[Any]]: ...

    @property
    def spools(self) -> Spools: ...

    def alert_stats(self) -> dict[str, int] | None:
        """Notifications sent, failed and pending, or ``None`` without alerting."""
        ...

    def dead_letters(self) -> list[DeadLetterFile]:
        """The dead-letter files of the sinks that keep one."""
        ...


class _LiveCollector(Collector):
    """Families whose values live in other objects, read at scrape time."""

    def __init__(self, source: Callable[[], MetricsSource | None]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        source = self._source()
        if source is None:
            return []
        families: list[Metric] = []
        per_provider = (
            ("costpipe_pages_fetched", "Provider pages fetched.", "pages_fetched"),
            ("costpipe_pages_set_aside", "Malformed provider pages set aside.", "pages_set_aside"),
            ("costpipe_retries", "HTTP requests retried by providers.", "retries"),
        )
        for name, help_text, attribute in per_provider:
            counter = CounterMetricFamily(name, help_text, labels=["provider"])
            for provider in source.providers:
                counter.add_metric([provider.instance], int(getattr(provider, attribute)))
            families.append(counter)
        spool_bytes = GaugeMetricFamily(
            "costpipe_spool_bytes", "Bytes waiting in a sink's on-disk spool.", labels=["sink"]
        )
        spool_batches = GaugeMetricFamily(
            "costpipe_spool_batches", "Batches waiting in a sink's on-disk spool.", labels=["sink"]
        )
        for spool in source.spools:
            spool_bytes.add_metric([spool.instance], spool.pending_bytes)
            spool_batches.add_metric([spool.instance], spool.pending_batches)
        families += [spool_bytes, spool_batches]
        refused = CounterMetricFamily(
            "costpipe_points_dead_lettered",
            "Points a store refused for good, kept in its dead-letter file.",
            labels=["sink"],
        )
        waiting = GaugeMetricFamily(
            "costpipe_dead_letter_points",
            "Points in a sink's dead-letter file, waiting for `costpipe deadletter replay`.",
            labels=["sink"],
        )
        for dead in source.dead_letters():
            refused.add_metric([dead.sink], dead.count)
            waiting.add_metric([dead.sink], dead.stored())
        families += [refused, waiting]
        alerts = source.alert_stats()
        if alerts is not None:
            families.append(
                CounterMetricFamily(
                    "costpipe_alerts_sent",
                    "Alert notifications delivered.",
                    value=alerts.get("sent", 0),
                )
            )
            families.append(
                GaugeMetricFamily(
                    "costpipe_alerts_failed",
                    "Alert notifications whose delivery failed and will be retried.",
                    value=alerts.get("failed", 0),
                )
            )
            families.append(
                GaugeMetricFamily(
                    "costpipe_alerts_pending",
                    "Alert notifications waiting for their first delivery attempt.",
                    value=alerts.get("pending", 0),
                )
            )
        return families


class DaemonMetrics:
    """Every metric of one daemon, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("costpipe_build", "The running costpipe.", registry=self.registry).info(
            {"version": __version__}
        )
        self.records_ingested = Counter(
            "costpipe_records_ingested",
            "Records written to the sinks (or to their spools).",
            ["provider"],
            registry=self.registry,
        )
        self.passes = Counter(
            "costpipe_passes",
            "Provider passes by outcome.",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.failed_passes = Counter(
            "costpipe_errors",
            "Provider passes that failed (auth, failed or partial).",
            ["provider"],
            registry=self.registry,
        )
        self.pass_duration = Histogram(
            "costpipe_pass_duration_seconds",
            "Time one provider's pass took, from its first request to its last write.",
            ["provider"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.last_success = Gauge(
            "costpipe_last_success_timestamp_seconds",
            "End of the last successful window per provider (Unix time).",
            ["provider"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "costpipe_config_reloads",
            "Configuration reloads (SIGHUP) by result.",
            ["result"],
            registry=self.registry,
        )
        for result in ("ok", "failed"):
            self.config_reloads.labels(result)  # exposed as 0 before the first reload
        self._source: Callable[[], MetricsSource | None] = lambda: None
        self.registry.register(_LiveCollector(lambda: self._source()))

    def watch(self, source: Callable[[], MetricsSource | None]) -> None:
        """Read the live families from whatever *source* returns at scrape time
        (a callable, so that a reload can swap the objects behind it)."""
        self._source = source

    def observe_pass(self, result: PassResult) -> None:
        provider = result.instance
        self.records_ingested.labels(provider).inc(result.records)
        self.passes.labels(provider, result.outcome.value).inc()
        self.pass_duration.labels(provider).observe(result.seconds)
        if result.outcome.value == "ok":
            self.last_success.labels(provider).set(result.window.end.timestamp())
        elif result.outcome.value != "stopped":
            self.failed_passes.labels(provider).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
