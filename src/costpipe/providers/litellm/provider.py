"""The LiteLLM provider: its config and the walk of ``/spend/logs/v2`` (the IO).

The request plan is :mod:`~costpipe.providers.litellm.plan`, the pure page
decoder and the hourly aggregation :mod:`~costpipe.providers.litellm.decode`;
the package docstring says what is recorded.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import ClassVar

from pydantic import Field

from costpipe.components import ComponentContext
from costpipe.errors import MalformedDataError
from costpipe.providers.base import FetchBudget, HttpProvider, HttpProviderConfig, PageError, Timer
from costpipe.providers.litellm.decode import HOUR, HourlySpend, decode
from costpipe.providers.litellm.plan import (
    SPEND_LOGS,
    date_range,
    is_last_page,
    pieces,
    spend_logs_query,
)
from costpipe.providers.litellm.schema import SpendLogsPage
from costpipe.providers.planning import floor_time
from costpipe.records import CostRecord, Window

__all__ = ["LiteLLMConfig", "LiteLLMProvider"]

AUTH_REQUIREMENT = "the proxy's master key (or a key with get_spend_routes permission)"


class LiteLLMConfig(HttpProviderConfig):
    """``[[providers.litellm]]``."""

    base_url: str = Field(description="Proxy root, e.g. `http://litellm:4000`.")
    page_size: int = Field(
        default=100, ge=1, le=100, description="Rows per page (the proxy refuses more than 100)."
    )
    chunk_hours: int = Field(
        default=24, ge=1, le=24 * 31, description="Hours walked (and yielded) at a time."
    )
    team_id: str | None = Field(default=None, description="Only this team (default: all).")


class LiteLLMProvider(HttpProvider[LiteLLMConfig]):
    """Hourly spend of one LiteLLM proxy by user, team, key and model."""

    name: ClassVar[str] = "litellm"
    config_model: ClassVar[type[LiteLLMConfig]] = LiteLLMConfig
    auth_requirement: ClassVar[str] = AUTH_REQUIREMENT
    bucket: ClassVar[str] = "1h"

    def __init__(
        self,
        config: LiteLLMConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context, clock=clock, timer=timer)
        self.duplicates_skipped = 0

    async def check_connection(self) -> str:
        hour = floor_time(self._clock(), HOUR) - HOUR
        await self._page([*date_range(Window(hour, hour + HOUR)), ("page_size", "1")])
        return f"LiteLLM proxy at {self.http.base_url} serves /spend/logs/v2 to this key"

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        budget = self.fetch_budget()
        for piece in pieces(window, self._clock(), self.config.chunk_hours):
            # A malformed page sets the whole piece aside: its hours would be incomplete.
            with self.setting_aside(SPEND_LOGS):
                async with aclosing(self._walk(piece, budget)) as batches:
                    async for batch in batches:
                        yield batch

    async def _walk(
        self, piece: Window, budget: FetchBudget
    ) -> AsyncGenerator[list[CostRecord], None]:
        """Every row of *piece*, de-duplicated and aggregated by hour, yielded once
        complete; an empty batch after each earlier page lets the core stop there."""
        hours = HourlySpend(piece)
        size = self.config.page_size
        number = 0
        try:
            while True:
                number += 1
                budget.before_page(self.http.endpoint(SPEND_LOGS), number)
                answer = await self._page(
                    spend_logs_query(piece, number, size, self.config.team_id)
                )
                hours.add(answer.data)
                if is_last_page(number, answer, size):
                    break
                yield []
        finally:
            self.duplicates_skipped += hours.duplicates
        yield hours.records(self.account)

    async def _page(self, query: list[tuple[str, str]]) -> SpendLogsPage:
        raw = await self.http.get_bytes(SPEND_LOGS, query)
        try:
            return decode(raw.body)
        except MalformedDataError as exc:
            raise PageError(raw.url, str(exc)) from None
