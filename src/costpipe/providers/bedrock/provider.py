"""The Bedrock provider: Cost Explorer billed money on its own interval, and
CloudWatch token counts as estimated usage, for one AWS account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from costpipe.components import ComponentContext, Provider
from costpipe.errors import AuthError, MalformedDataError, TransientError
from costpipe.files import private_file
from costpipe.providers.bedrock import plan
from costpipe.providers.bedrock.client import PERMISSIONS, AwsApi, RequestChanged
from costpipe.providers.bedrock.config import BedrockConfig
from costpipe.providers.bedrock.decode import (
    UsageKey,
    add_metric_data,
    billed_records,
    usage_records,
)
from costpipe.providers.bedrock.schema import DimensionValuesPage, ListMetricsPage, MetricDataPage
from costpipe.providers.bedrock.usage_types import is_bedrock_service
from costpipe.providers.planning import UsagePricer, aligned_range, floor_time
from costpipe.records import CostRecord, Window

__all__ = ["COST_EXPLORER_REQUEST_USD", "BedrockProvider"]

#: What Cost Explorer bills per API request (paginated requests each count).
COST_EXPLORER_REQUEST_USD = "0.01"
_WIDTH = {"DAILY": timedelta(days=1), "HOURLY": timedelta(hours=1)}
_HOUR = timedelta(hours=1)
_MAX_SERVICES = 100
_RESTARTS = 3  # a query whose data changed mid-paging starts over this often


def _now() -> datetime:
    return datetime.now(UTC)


class BedrockProvider(Provider[BedrockConfig]):
    """Amazon Bedrock spend of one AWS account (see docs/providers/bedrock.md)."""

    name: ClassVar[str] = "bedrock"
    config_model: ClassVar[type[BedrockConfig]] = BedrockConfig
    auth_requirement: ClassVar[str] = "AWS credentials allowed " + ", ".join(PERMISSIONS)
    bucket: ClassVar[str] = "1h"

    def __init__(
        self,
        config: BedrockConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(config, context)
        self.account = config.organization or context.instance
        self.api = AwsApi(config, context.instance, sleep=sleep)
        self._clock = clock
        self._pricer = UsagePricer("bedrock", self.instance, context.prices, self.log)
        self._polled_file = context.state_dir / "cost_explorer_polled"

    async def start(self) -> None:
        await self.api.start()

    async def close(self) -> None:
        await self.api.close()

    # -- Cost Explorer's own interval --------------------------------------------

    def last_cost_poll(self) -> datetime | None:
        """When Cost Explorer was last read for the recent past (persisted)."""
        try:
            return datetime.fromisoformat(self._polled_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def cost_explorer_due(self, window: Window, now: datetime) -> bool:
        """A window that ended an interval ago (a backfill) is always read; the
        trailing lookback of scheduled passes only once per interval, each read
        covering the whole lookback, so nothing between two reads is missed."""
        interval = self.config.cost_explorer_interval
        last = self.last_cost_poll()
        return window.end <= now - interval or last is None or now - last >= interval

    def _mark_polled(self, now: datetime) -> None:
        private_file(self._polled_file).write_text(now.isoformat())

    # -- fetch ---------------------------------------------------------------------

    def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        return self._fetch(window)

    async def _fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        now = self._clock()
        try:
            if self.config.cost_explorer and self.cost_explorer_due(window, now):
                recent = window.end > now - self.config.cost_explorer_interval
                async for batch in self._billed(window, now):
                    yield batch
                if recent:
                    self._mark_polled(now)
            if self.config.usage_metrics:
                async for batch in self._usage(window, now):
                    yield batch
        finally:
            self.retries = self.api.retries

    async def bedrock_services(self, span: Window) -> list[str]:
        """Cost Explorer SERVICE names of Bedrock in *span*: Amazon Bedrock and the
        Marketplace "(Amazon Bedrock Edition)" models, plus ``extra_services``."""
        found = set(self.config.extra_services)
        pages = self.api.pages(
            "ce",
            "GetDimensionValues",
            plan.service_search(span),
            ("NextPageToken", "NextPageToken"),
        )
        async for raw in pages:
            try:
                page = msgspec.convert(raw, DimensionValuesPage)
            except msgspec.ValidationError as error:
                raise MalformedDataError(f"GetDimensionValues: {error}") from None
            found.update(v.value for v in page.dimension_values if is_bedrock_service(v.value))
            if len(found) > _MAX_SERVICES:
                raise MalformedDataError(f"more than {_MAX_SERVICES} Bedrock services")
        return sorted(found)

    async def _billed(self, window: Window, now: datetime) -> AsyncIterator[list[CostRecord]]:
        granularity = self.config.granularity
        span = aligned_range(window, _WIDTH[granularity], now)
        if span is None:
            return
        for service in await self.bedrock_services(span):
            for piece in span.split(plan.COST_PIECE[granularity]):
                yield await self._billed_piece(service, piece)

    async def _billed_piece(self, service: str, piece: Window) -> list[CostRecord]:
        config = self.config
        params = plan.cost_and_usage(
            piece,
            granularity=config.granularity,
            metric=config.cost_metric,
            service=service,
            tag=config.group_by_tag,
        )
        for _ in range(_RESTARTS):
            records: list[CostRecord] = []
            try:
                pages = self.api.pages(
                    "ce", "GetCostAndUsage", params, ("NextPageToken", "NextPageToken")
                )
                async for raw in pages:
                    self.pages_fetched += 1
                    try:
                        records += billed_records(
                            raw,
                            service=service,
                            metric=config.cost_metric,
                            account=self.account,
                            span=piece,
                            tag=config.group_by_tag,
                        )
                    except MalformedDataError as error:
                        self.set_aside(f"ce:GetCostAndUsage {service} {piece.start:%F}", str(error))
            except RequestChanged:
                self.log.info("cost_explorer_revised", provider=self.instance, service=service)
                continue
            return records
        raise TransientError(f"{self.instance}: Cost Explorer data kept changing while paging")

    async def model_ids(self) -> list[str]:
        """The ModelIds that have ``AWS/Bedrock`` metrics (at most ``max_models``)."""
        found: set[str] = set()
        pages = self.api.pages(
            "cloudwatch", "ListMetrics", plan.list_models(), ("NextToken", "NextToken")
        )
        async for raw in pages:
            try:
                page = msgspec.convert(raw, ListMetricsPage)
            except msgspec.ValidationError as error:
                raise MalformedDataError(f"ListMetrics: {error}") from None
            for metric in page.metrics:
                found.update(d.value for d in metric.dimensions if d.name == "ModelId")
        if len(found) > self.config.max_models:
            self.log.warning(
                "models_truncated", provider=self.instance, models=len(found),
                limit=self.config.max_models,
            )  # fmt: skip
        return sorted(found)[: self.config.max_models]

    async def _usage(self, window: Window, now: datetime) -> AsyncIterator[list[CostRecord]]:
        span = aligned_range(window, _HOUR, now)
        if span is None:
            return
        models = await self.model_ids()
        for piece in span.split(plan.METRIC_PIECE):
            totals: dict[UsageKey, dict[str, int]] = {}
            for params, queries in plan.metric_queries(models, piece):
                pages = self.api.pages(
                    "cloudwatch", "GetMetricData", params, ("NextToken", "NextToken")
                )
                async for raw in pages:
                    self.pages_fetched += 1
                    try:
                        page = msgspec.convert(raw, MetricDataPage)
                        add_metric_data(totals, page.metric_data_results, queries, piece)
                    except (msgspec.ValidationError, MalformedDataError) as error:
                        self.set_aside(f"cloudwatch:GetMetricData {piece.start:%F}", str(error))
            yield usage_records(totals, account=self.account, pricer=self._pricer)

    # -- check --connect -------------------------------------------------------------

    async def check_connection(self) -> str:
        """Try each IAM action once; name every missing permission, and state what
        Cost Explorer will cost at the configured interval."""
        day = floor_time(self._clock(), _WIDTH["DAILY"]) - _WIDTH["DAILY"]
        yesterday = Window(day, day + _WIDTH["DAILY"])
        before = self._cost_explorer_requests()
        missing: list[str] = []
        services: list[str] = []
        checks: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("ce:GetDimensionValues", lambda: self.bedrock_services(yesterday)),
            ("ce:GetCostAndUsage", lambda: self._billed_piece("Amazon Bedrock", yesterday)),
            ("cloudwatch:ListMetrics", self.model_ids),
            ("cloudwatch:GetMetricData", lambda: self._probe_metrics(yesterday)),
        ]
        for action, check in checks:
            try:
                result = await check()
            except AuthError as error:
                if "missing IAM permission" not in str(error):
                    raise  # the credentials themselves were refused
                missing.append(f"missing IAM permission {action}")
                continue
            if action == "ce:GetDimensionValues":
                services = result
        if missing:
            needed = ", ".join(PERMISSIONS)
            raise AuthError(f"{self.instance}: " + "; ".join(missing) + f" (needs {needed})")
        return self._cost_statement(len(services), self._cost_explorer_requests() - before)

    def _cost_explorer_requests(self) -> int:
        return sum(n for action, n in self.api.requests.items() if action.startswith("ce:"))

    async def _probe_metrics(self, day: Window) -> None:
        params, _ = plan.metric_queries(["probe"], Window(day.end - _HOUR, day.end))[0]
        await self.api.call("cloudwatch", "GetMetricData", params)

    def _cost_statement(self, services: int, made: int) -> str:
        interval = self.config.cost_explorer_interval
        polls = Decimal(timedelta(days=30) // timedelta(seconds=1)) / Decimal(
            interval // timedelta(seconds=1)
        )
        per_poll = 1 + max(services, 1)
        monthly = (polls * per_poll * Decimal(COST_EXPLORER_REQUEST_USD)).quantize(Decimal("0.01"))
        return (
            f"Cost Explorer and CloudWatch accepted the credentials; {services} Bedrock "
            f"service(s) billed; Cost Explorer read every {interval} costs at least "
            f"{per_poll} request(s) x ${COST_EXPLORER_REQUEST_USD} per poll, about "
            f"${monthly} a month (more with paging); this check made {made} Cost "
            f"Explorer request(s) (${made * Decimal(COST_EXPLORER_REQUEST_USD)})"
        )
