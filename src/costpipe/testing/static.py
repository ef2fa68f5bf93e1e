"""A provider that makes deterministic records without any network: for the
core's tests and for sink or enricher authors who need a data source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar, Literal

from costpipe.components import ComponentConfig, ComponentContext, Provider
from costpipe.errors import AuthError, TransientError
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["StaticProvider", "StaticProviderConfig", "static_records"]


class StaticProviderConfig(ComponentConfig):
    rows_per_hour: int = 3
    """Records per hourly bucket (models ``model-0``, ``model-1``, ...)."""
    batch_size: int = 50
    page_delay: float = 0.0
    """Seconds to sleep before each batch (simulated page latency)."""
    fail: Literal["auth", "transient", "crash"] | None = None
    fail_after_batches: int = 0
    """Batches yielded before ``fail`` strikes."""
    cost_per_row: Decimal = Decimal("0.010001")


def static_records(
    window: Window, account: str, rows_per_hour: int, cost: Decimal
) -> list[CostRecord]:
    """The records :class:`StaticProvider` yields for *window*, in order: the
    hourly buckets that end inside it (``window.start < bucket end <= window.end``),
    the rule every provider follows (:class:`~costpipe.components.Provider`)."""
    hour = timedelta(hours=1)
    cursor = window.start.replace(minute=0, second=0, microsecond=0)
    last = window.end.replace(minute=0, second=0, microsecond=0)
    records = []
    while cursor < last:
        for index in range(rows_per_hour):
            records.append(
                CostRecord(
                    start=cursor,
                    width=hour,
                    provider="static",
                    account=account,
                    cost_source=CostSource.BILLED,
                    cost_usd=cost * (index + 1),
                    model=f"model-{index}",
                    project_id=f"proj-{index % 2}",
                    user_id=f"user-{index % 3}",
                    output_tokens=100 * (index + 1),
                    requests=1,
                )
            )
        cursor += hour
    return records


class StaticProvider(Provider[StaticProviderConfig]):
    """Yields :func:`static_records` in batches; can be told to fail."""

    name: ClassVar[str] = "static"
    config_model = StaticProviderConfig
    #: Requests in flight across every instance, and its high-water mark, so a test
    #: can check the shared bound on requests (reset ``peak_in_flight`` first).
    in_flight: ClassVar[int] = 0
    peak_in_flight: ClassVar[int] = 0

    def __init__(self, config: StaticProviderConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.fetched_windows: list[Window] = []

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        self.fetched_windows.append(window)
        records = static_records(
            window, self.instance, self.config.rows_per_hour, self.config.cost_per_row
        )
        size = max(1, self.config.batch_size)
        for number, offset in enumerate(range(0, len(records), size)):
            if self.config.fail and number >= self.config.fail_after_batches:
                self._fail()
            async with self.context.request_slots:
                StaticProvider.in_flight += 1
                StaticProvider.peak_in_flight = max(
                    StaticProvider.peak_in_flight, StaticProvider.in_flight
                )
                try:
                    if self.config.page_delay:
                        await asyncio.sleep(self.config.page_delay)
                finally:
                    StaticProvider.in_flight -= 1
            self.pages_fetched += 1
            yield records[offset : offset + size]
        if self.config.fail and not records:
            self._fail()

    def _fail(self) -> None:
        if self.config.fail == "auth":
            raise AuthError(f"{self.instance}: key refused (static provider told to fail)")
        if self.config.fail == "transient":
            raise TransientError(f"{self.instance}: retries exhausted (static provider)")
        raise RuntimeError("static provider crashed on purpose")

    async def check_connection(self) -> str:
        return f"static data since {datetime(2026, 1, 1, tzinfo=UTC).date()}"
