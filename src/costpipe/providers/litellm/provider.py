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
    MAX_PAGE_SIZE,
    SECOND,
    SPEND_LOGS,
    date_range,
    holds_the_whole_slice,
    pieces,
    spend_logs_query,
    split,
)
from costpipe.providers.litellm.schema import SpendLog, SpendLogsPage
from costpipe.providers.planning import floor_time
from costpipe.records import CostRecord, Window

__all__ = ["LiteLLMConfig", "LiteLLMProvider"]

AUTH_REQUIREMENT = "the proxy's master key (or a key with get_spend_routes permission)"
#: Walks of a crowded second before its rows are declared unverifiable.
CROWDED_SECOND_WALKS = 3


class LiteLLMConfig(HttpProviderConfig):
    """``[[providers.litellm]]``."""

    base_url: str = Field(description="Proxy root, e.g. `http://litellm:4000`.")
    page_size: int = Field(
        default=MAX_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Rows per page (the proxy refuses more than 1000, `le=1000`).",
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
        self._requests = 0

    async def check_connection(self) -> str:
        hour = floor_time(self._clock(), HOUR) - HOUR
        await self._page([*date_range(hour, hour + HOUR), ("page_size", "1")])
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
        """Every row of *piece*, read in slices that each fit in one answer (see
        :mod:`~costpipe.providers.litellm.plan`), aggregated by hour and yielded
        once complete; an empty batch after each request lets the core stop there."""
        hours = HourlySpend(piece)
        size = self.config.page_size
        todo = [piece]
        self._requests = 0
        try:
            while todo:
                part = todo.pop()
                answer = await self._slice_page((part.start, part.end), 1, budget)
                if holds_the_whole_slice(answer, size):
                    hours.add(answer.data, part)
                elif part.duration > SECOND:
                    todo.extend(reversed(split(part, answer, size)))
                else:
                    hours.add(await self._walk_crowded_second(part, answer, budget), part)
                yield []
        finally:
            self.duplicates_skipped += hours.duplicates
        yield hours.records(self.account)

    async def _walk_crowded_second(
        self, second: Window, first: SpendLogsPage, budget: FetchBudget
    ) -> list[SpendLog]:
        """The rows starting in *second* (one second, ``[start, end)``) when its
        query ``start <= startTime <= end`` filled a page.

        The proxy's dates have whole seconds, so this slice cannot be cut further.
        First it is asked again with the largest page the proxy allows: a short
        answer is all of it. Otherwise it must be paged with OFFSET, where rows
        sharing a ``startTime`` have no fixed order and one walk may skip a row
        that another of its pages serves twice. The rows at exactly ``end``
        (the next slice's, returned first in the descending order) are counted
        beforehand; then up to three walks, each with a different page size (a
        different LIMIT/OFFSET plan orders ties differently), are united by
        ``request_id`` until the slice's own rows number at least the proxy's
        count minus that boundary count. A row is never counted twice, and a
        second that cannot be verified (a capped or missing count, or rows still
        missing) is set aside (PageError), never reported short."""
        own = second.start, second.end
        answer = first
        if self.config.page_size < MAX_PAGE_SIZE:
            answer = await self._slice_page(own, 1, budget, MAX_PAGE_SIZE)
            if holds_the_whole_slice(answer, MAX_PAGE_SIZE):
                return list(answer.data)
        boundary = await self._slice_page((second.end, second.end), 1, budget, 1)
        rows: dict[str, SpendLog] = {}
        for walk in range(CROWDED_SECOND_WALKS):
            size = MAX_PAGE_SIZE - walk
            page = 1
            answer = await self._slice_page(own, page, budget, size)
            while True:
                for row in answer.data:
                    if row.start_time < second.end:
                        rows.setdefault(row.request_id, row)
                if len(answer.data) < size:
                    break
                page += 1
                answer = await self._slice_page(own, page, budget, size)
            capped = answer.total_is_capped or boundary.total_is_capped
            own_count = None if capped else _difference(answer.total, boundary.total)
            if own_count is not None and len(rows) >= own_count:
                return list(rows.values())
        raise PageError(
            self.http.endpoint(SPEND_LOGS),
            f"{len(rows)} distinct rows start in the second {second.start.isoformat()} after "
            f"{CROWDED_SECOND_WALKS} walks, the proxy counts {answer.total} with "
            f"{boundary.total} at its end{' (capped)' if capped else ''}: OFFSET pages over "
            "rows with equal startTime cannot be read exactly; the piece is set aside",
        )

    async def _slice_page(
        self,
        span: tuple[datetime, datetime],
        page: int,
        budget: FetchBudget,
        size: int | None = None,
    ) -> SpendLogsPage:
        self._requests += 1
        budget.before_page(self.http.endpoint(SPEND_LOGS), self._requests)
        size = size or self.config.page_size
        return await self._page(spend_logs_query(*span, page, size, self.config.team_id))

    async def _page(self, query: list[tuple[str, str]]) -> SpendLogsPage:
        raw = await self.http.get_bytes(SPEND_LOGS, query)
        try:
            return decode(raw.body)
        except MalformedDataError as exc:
            raise PageError(raw.url, str(exc)) from None


def _difference(total: int | None, at_end: int | None) -> int | None:
    """Rows counted in a second's query less those at its end, if both are known."""
    return None if total is None or at_end is None else total - at_end
