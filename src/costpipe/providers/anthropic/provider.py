"""The Anthropic provider: config, Admin API headers, connection check and fetch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from costpipe.components import ComponentContext
from costpipe.pricing.prices import PriceTable
from costpipe.providers.anthropic.decode import COSTS, decode
from costpipe.providers.anthropic.plan import plan, rfc3339
from costpipe.providers.base import HttpProvider, Timer
from costpipe.providers.bucketed import Scope, check_page
from costpipe.providers.planning import (
    WIDTHS,
    PlannedConfig,
    PlannedRequest,
    UsagePricer,
    fetch_planned,
    floor_time,
)
from costpipe.records import CostRecord, Window

__all__ = [
    "API_VERSION",
    "AUTH_REQUIREMENT",
    "AnthropicConfig",
    "AnthropicPricer",
    "AnthropicProvider",
]

API_VERSION = "2023-06-01"
AUTH_REQUIREMENT = "an Anthropic Admin API key (sk-ant-admin...)"


class AnthropicConfig(PlannedConfig):
    """``[[providers.anthropic]]``."""

    base_url: str = Field(default="https://api.anthropic.com", description="API root.")
    bucket_width: Literal["1m", "1h", "1d"] = Field(
        default="1h", description="Usage bucket width; costs are always daily."
    )


class AnthropicPricer(UsagePricer):
    """The shared pricer for Anthropic usage. Long-context (``200k-1M``) rows ask
    the table for their own tier (``<service tier>@200k-1M``): the table prices
    them at the long-context rate, or leaves them unpriced with the reason
    logged once per model and tier, never at the standard rate."""

    def __init__(self, instance: str, table: PriceTable | None, log: Any) -> None:
        super().__init__("anthropic", instance, table, log)


class AnthropicProvider(HttpProvider[AnthropicConfig]):
    """Billed costs and estimated usage of one Anthropic organization."""

    name: ClassVar[str] = "anthropic"
    config_model: ClassVar[type[AnthropicConfig]] = AnthropicConfig
    auth_requirement: ClassVar[str] = AUTH_REQUIREMENT
    bucket: ClassVar[str] = "1h"

    def auth_headers(self, config: AnthropicConfig) -> dict[str, str]:
        return {"x-api-key": config.api_key.get_secret_value(), "anthropic-version": API_VERSION}

    def __init__(
        self,
        config: AnthropicConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context, clock=clock, timer=timer)
        self._pricer = AnthropicPricer(self.instance, context.prices, self.log)

    async def check_connection(self) -> str:
        day = floor_time(self._clock(), WIDTHS["1d"]) - WIDTHS["1d"]
        params = [("starting_at", rfc3339(day)), ("limit", "1")]
        check_page(COSTS, await self.http.get_bytes(COSTS.path, params))
        return f"Anthropic cost report at {self.http.base_url} accepted the Admin key"

    def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        return fetch_planned(self, self.requests(window, self._clock()))

    def requests(self, window: Window, now: datetime) -> list[PlannedRequest]:
        """Every (path, params, page decoder) to fetch for *window*, costs first."""
        return [
            PlannedRequest(
                request.endpoint.path,
                request.params,
                partial(decode, request.endpoint, Scope(self.account, request.span, self._pricer)),
            )
            for request in plan(window, now, bucket_width=self.config.bucket_width)
        ]
