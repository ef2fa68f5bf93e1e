"""LiteLLM proxy spend logs (``[[providers.litellm]]``).

``GET /spend/logs/v2`` lists one row per request the proxy handled, newest
first, with the dollars the proxy charged it (``spend``). costpipe walks the
rows of each complete UTC hour range and aggregates them into **hourly**
records per (user, team, virtual key, model, upstream provider):

=====================  ==========================================================
record field           LiteLLM field
=====================  ==========================================================
``user_id``            ``user`` (the internal user owning the key)
``project_id``         ``team_id`` (LiteLLM teams are the proxy's projects)
``api_key_id``         ``api_key`` (sha256 of the virtual key, never the key)
``model``              ``model`` (sent upstream), else ``model_group``
``line_item``          ``custom_llm_provider`` (``openai``, ``azure``...)
``cost_usd``           sum of ``spend`` (Decimal from the JSON text), ``billed``
``uncached_input_...`` sum of ``prompt_tokens`` (cache splits are not reliable)
``output_tokens``      sum of ``completion_tokens``
``requests``           number of rows (failed requests included)
=====================  ==========================================================

Walk guarantees:

* ``start_date``/``end_date`` are ``YYYY-MM-DD HH:MM:SS`` UTC and LiteLLM
  compares them inclusively at both ends, so rows starting exactly at the
  window's end are dropped here: consecutive windows never count a row twice.
* Pages are offsets into a list ordered ``startTime`` descending; requests
  logged during the walk push rows down into the next page. Rows are therefore
  de-duplicated by ``request_id``; rows inserted at the top during a walk are
  picked up by the next pass (windows are re-fetched over the lookback).
* Windows are walked in pieces of ``chunk_hours`` and each piece yields its
  aggregated records once complete, so a record is never split across batches.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from costpipe.components import ComponentContext, Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.base import (
    FetchBudget,
    HttpProvider,
    HttpProviderConfig,
    Page,
    PageError,
    Timer,
)
from costpipe.providers.planning import aligned_range, as_count, as_decimal, as_text, floor_time
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["LiteLLMConfig", "LiteLLMProvider", "register_providers"]

AUTH_REQUIREMENT = "the proxy's master key (or a key with get_spend_routes permission)"
HOUR = timedelta(hours=1)
SPEND_LOGS = "/spend/logs/v2"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


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


@dataclass(slots=True)
class _Group:
    cost: Decimal = Decimal(0)
    prompt: int = 0
    completion: int = 0
    requests: int = 0


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
        await self.http.get_json(
            SPEND_LOGS, [*_dates(Window(hour, hour + HOUR)), ("page_size", "1")]
        )
        return f"LiteLLM proxy at {self.http.base_url} serves /spend/logs/v2 to this key"

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        span = aligned_range(window, HOUR, self._clock())
        if span is None:
            return
        budget = self.fetch_budget()
        for piece in span.split(HOUR * self.config.chunk_hours):
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
        groups: dict[tuple[datetime, str, str, str, str, str], _Group] = {}
        seen: set[str] = set()
        base = [*_dates(piece), ("page_size", str(self.config.page_size))]
        if self.config.team_id:
            base.append(("team_id", self.config.team_id))
        page_number = 0
        while True:
            page_number += 1
            budget.before_page(self.http.endpoint(SPEND_LOGS), page_number)
            page = await self.http.get_json(SPEND_LOGS, [*base, ("page", str(page_number))])
            rows, total_pages = _rows(page)
            for row in rows:
                self._add(row, piece, page.url, seen, groups)
            # Stop on a short page too: total_pages may lag behind inserts.
            if page_number >= total_pages or len(rows) < self.config.page_size:
                break
            yield []
        yield [self._record(key, group) for key, group in groups.items()]

    def _add(
        self,
        row: dict[str, Any],
        piece: Window,
        url: str,
        seen: set[str],
        groups: dict[tuple[datetime, str, str, str, str, str], _Group],
    ) -> None:
        request_id = as_text(row.get("request_id"))
        if not request_id:
            raise PageError(url, "a row has no `request_id`")
        if request_id in seen:
            # Shifted into this page by a request logged during the walk.
            self.duplicates_skipped += 1
            return
        seen.add(request_id)
        started = _instant(row.get("startTime"), url)
        if not piece.start <= started < piece.end:
            return  # the inclusive end_date, or a server ignoring the range
        model = as_text(row.get("model")) or as_text(row.get("model_group"))
        key = (
            floor_time(started, HOUR),
            as_text(row.get("user")),
            as_text(row.get("team_id")),
            as_text(row.get("api_key")),
            model,
            as_text(row.get("custom_llm_provider")),
        )
        group = groups.setdefault(key, _Group())
        group.cost += as_decimal(row.get("spend", 0), "`spend`", url)
        group.prompt += as_count(row, "prompt_tokens", url)
        group.completion += as_count(row, "completion_tokens", url)
        group.requests += 1

    def _record(self, key: tuple[datetime, str, str, str, str, str], group: _Group) -> CostRecord:
        hour, user, team, api_key, model, upstream = key
        return CostRecord(
            start=hour,
            width=HOUR,
            provider="litellm",
            account=self.account,
            cost_source=CostSource.BILLED,
            cost_usd=group.cost,
            model=model,
            user_id=user,
            project_id=team,
            api_key_id=api_key,
            line_item=upstream,
            uncached_input_tokens=group.prompt,
            output_tokens=group.completion,
            requests=group.requests,
        )


def _dates(piece: Window) -> list[tuple[str, str]]:
    return [
        ("start_date", piece.start.strftime(_DATE_FORMAT)),
        ("end_date", piece.end.strftime(_DATE_FORMAT)),
    ]


def _rows(page: Page) -> tuple[list[dict[str, Any]], int]:
    body = page.body
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise PageError(page.url, "expected an object with a `data` list")
    rows = body["data"]
    if not all(isinstance(r, dict) for r in rows):
        raise PageError(page.url, "a row is not an object")
    pages = body.get("total_pages", 1)
    if isinstance(pages, bool) or not isinstance(pages, int):
        raise PageError(page.url, f"`total_pages` is not a number: {pages!r}")
    return rows, pages


def _instant(value: Any, url: str) -> datetime:
    if not isinstance(value, str):
        raise PageError(url, f"`startTime` {value!r} is not a time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PageError(url, f"`startTime` {value!r} is not ISO 8601") from None
    # LiteLLM stores UTC; some versions serialize it without an offset.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [LiteLLMProvider]
