"""The OpenAI provider: config, connection check and the fetch of a window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import ClassVar, Literal, get_args

from pydantic import Field

from costpipe.components import ComponentContext
from costpipe.providers.base import HttpProvider, Timer
from costpipe.providers.bucketed import Scope, check_page
from costpipe.providers.openai.decode import COSTS, ENDPOINTS, decode
from costpipe.providers.openai.plan import plan
from costpipe.providers.planning import (
    WIDTHS,
    PlannedConfig,
    PlannedRequest,
    UsagePricer,
    fetch_planned,
    floor_time,
)
from costpipe.records import CostRecord, Window

__all__ = ["AUTH_REQUIREMENT", "OpenAIConfig", "OpenAIProvider"]

AUTH_REQUIREMENT = "an OpenAI Admin key (sk-admin-...) with the api.usage.read scope"

#: The names ``usage_endpoints`` accepts: every usage endpoint of the spec.
UsageEndpoint = Literal[
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
]
USAGE_ENDPOINTS: tuple[UsageEndpoint, ...] = get_args(UsageEndpoint)
assert set(USAGE_ENDPOINTS) == set(ENDPOINTS), "the config's names are the decoder's"


class OpenAIConfig(PlannedConfig):
    """``[[providers.openai]]``."""

    base_url: str = Field(default="https://api.openai.com/v1", description="API root (with /v1).")
    project_ids: list[str] = Field(
        default_factory=list, description="Only these projects (default: all)."
    )
    bucket_width: Literal["1m", "1h", "1d"] = Field(
        default="1h", description="Usage bucket width; costs are always daily."
    )
    cost_group_by_api_key: bool = Field(
        default=True,
        description="Group costs by API key too (turn off for servers that reject it).",
    )
    usage_endpoints: list[UsageEndpoint] = Field(
        default_factory=lambda: list(USAGE_ENDPOINTS),
        description=(
            "Usage endpoints to read (default: all ten): "
            + ", ".join(USAGE_ENDPOINTS)
            + ". Costs are always read."
        ),
    )


class OpenAIProvider(HttpProvider[OpenAIConfig]):
    """Billed costs and estimated usage of one OpenAI organization."""

    name: ClassVar[str] = "openai"
    config_model: ClassVar[type[OpenAIConfig]] = OpenAIConfig
    auth_requirement: ClassVar[str] = AUTH_REQUIREMENT
    bucket: ClassVar[str] = "1h"

    def __init__(
        self,
        config: OpenAIConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context, clock=clock, timer=timer)
        self._pricer = UsagePricer("openai", self.instance, context.prices, self.log)

    async def check_connection(self) -> str:
        day = floor_time(self._clock(), WIDTHS["1d"]) - WIDTHS["1d"]
        params = [("start_time", str(int(day.timestamp()))), ("limit", "1")]
        check_page(COSTS, await self.http.get_bytes(COSTS.path, params))
        return f"OpenAI Costs API at {self.http.base_url} accepted the Admin key"

    def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        return fetch_planned(self, self.requests(window, self._clock()))

    def requests(self, window: Window, now: datetime) -> list[PlannedRequest]:
        """Every (path, params, page decoder) to fetch for *window*, costs first."""
        config = self.config
        return [
            PlannedRequest(
                request.endpoint.path,
                request.params,
                partial(decode, request.endpoint, Scope(self.account, request.span, self._pricer)),
            )
            for request in plan(
                window,
                now,
                bucket_width=config.bucket_width,
                project_ids=config.project_ids,
                cost_group_by_api_key=config.cost_group_by_api_key,
                usage_endpoints=frozenset(config.usage_endpoints),
            )
        ]
