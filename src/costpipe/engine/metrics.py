"""Counters of the daemon, rendered in the Prometheus text format."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costpipe.engine.pipeline import PassResult

__all__ = ["Metrics"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(slots=True)
class Metrics:
    records_ingested: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    passes: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    pages_fetched: dict[str, int] = field(default_factory=dict)
    pages_set_aside: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_success: dict[str, datetime] = field(default_factory=dict)

    def record_pass(self, result: PassResult) -> None:
        self.records_ingested[result.instance] += result.records
        self.passes[(result.instance, result.outcome.value)] += 1
        if result.outcome.value == "ok":
            self.last_success[result.instance] = result.window.end
        elif result.outcome.value != "stopped":
            self.errors[result.instance] += 1

    def render(
        self, *, spool_bytes: int, spool_batches: int, alerts: dict[str, int] | None = None
    ) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: dict[str, float | int]) -> None:
            lines.append(f"# HELP costpipe_{name} {help_text}")
            lines.append(f"# TYPE costpipe_{name} {kind}")
            for labels, value in samples.items():
                lines.append(f"costpipe_{name}{labels} {value}")

        def by_provider(values: dict[str, int]) -> dict[str, float | int]:
            return {f'{{provider="{_escape(k)}"}}': v for k, v in sorted(values.items())}

        family(
            "records_ingested_total",
            "counter",
            "Records written to the sinks.",
            by_provider(self.records_ingested),
        )
        family(
            "pages_fetched_total",
            "counter",
            "Provider pages fetched.",
            by_provider(self.pages_fetched),
        )
        family(
            "pages_set_aside_total",
            "counter",
            "Malformed provider pages set aside.",
            by_provider(self.pages_set_aside),
        )
        family("retries_total", "counter", "HTTP retries by providers.", by_provider(self.retries))
        family("errors_total", "counter", "Failed provider passes.", by_provider(self.errors))
        family(
            "passes_total",
            "counter",
            "Provider passes by outcome.",
            {
                f'{{provider="{_escape(p)}",outcome="{o}"}}': n
                for (p, o), n in sorted(self.passes.items())
            },
        )
        family(
            "last_success_timestamp_seconds",
            "gauge",
            "End of the last successful window per provider (Unix time).",
            {
                f'{{provider="{_escape(p)}"}}': int(t.timestamp())
                for p, t in sorted(self.last_success.items())
            },
        )
        family("spool_bytes", "gauge", "Bytes waiting in the on-disk spool.", {"": spool_bytes})
        family(
            "spool_batches", "gauge", "Batches waiting in the on-disk spool.", {"": spool_batches}
        )
        if alerts is not None:
            family(
                "alerts_sent_total",
                "counter",
                "Alert notifications delivered.",
                {"": alerts.get("sent", 0)},
            )
            family(
                "alerts_failed",
                "gauge",
                "Alert notifications whose delivery failed and will be retried.",
                {"": alerts.get("failed", 0)},
            )
            family(
                "alerts_pending",
                "gauge",
                "Alert notifications waiting for their first delivery attempt.",
                {"": alerts.get("pending", 0)},
            )
        return "\n".join(lines) + "\n"
