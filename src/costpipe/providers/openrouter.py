"""OpenRouter activity (``[[providers.openrouter]]``).

``GET /api/v1/activity`` reports, per completed UTC day, model and upstream
endpoint, the credits spent (``usage``, dollars) with request and token
counts. It needs a *management* key; an inference key is refused with 403.

Mapping:

* one daily record per (day, model, upstream provider); ``model`` is the
  OpenRouter slug (``openai/gpt-4.1``) and ``line_item`` the upstream
  ``provider_name`` (``OpenAI``, ``Amazon Bedrock``), so one model served by two
  upstreams gives two records with distinct keys;
* ``cost_usd`` is ``usage``, read as Decimal from the JSON text (never via a
  float), ``cost_source`` ``billed`` (credits are what OpenRouter charges);
* ``prompt_tokens`` -> ``uncached_input_tokens`` (activity has no cache
  breakdown), ``completion_tokens`` (reasoning included) -> ``output_tokens``;
* BYOK inference (``byok_usage_inference``) is billed by the customer's own
  upstream account, which another provider may already track; it is left out
  unless ``include_byok = true``, which adds a separate ``<provider>, byok``
  record so the two never mix.

Only *completed* UTC days exist (the API never reports today) and only the
last 30 of them: a window reaching further back is fetched for the days the
API still has, with a warning. Remaining credit is read from
``/api/v1/credits`` by ``check_connection`` (``costpipe check --connect``
prints it) and after every fetch: it is logged as ``openrouter_credits`` with
``remaining_usd``, kept in :attr:`OpenRouterProvider.remaining_credit_usd`, and
a warning ``openrouter_credit_low`` is logged once when it falls under
``low_credit_usd``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from costpipe.components import ComponentContext, Provider
from costpipe.errors import MalformedDataError
from costpipe.hookspecs import hookimpl
from costpipe.providers.base import HttpProvider, HttpProviderConfig, Page, PageError, Timer
from costpipe.providers.planning import (
    aligned_range,
    as_count,
    as_decimal,
    as_text,
    merge_duplicates,
)
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["OpenRouterConfig", "OpenRouterProvider", "register_providers"]

AUTH_REQUIREMENT = "an OpenRouter management key (Settings > Management keys)"
HISTORY_DAYS = 30
DAY = timedelta(days=1)


class OpenRouterConfig(HttpProviderConfig):
    """``[[providers.openrouter]]``."""

    base_url: str = Field(
        default="https://openrouter.ai/api/v1", description="API root (with /api/v1)."
    )
    workspace_id: str | None = Field(
        default=None, description="Only this workspace (default: all workspaces)."
    )
    include_byok: bool = Field(
        default=False,
        description="Also record BYOK inference cost, billed by your own upstream account.",
    )
    low_credit_usd: Decimal | None = Field(
        default=None, ge=0, description="Warn once when the remaining credit falls below this."
    )


class OpenRouterProvider(HttpProvider[OpenRouterConfig]):
    """Daily credits spent on one OpenRouter account, by model and upstream."""

    name: ClassVar[str] = "openrouter"
    config_model: ClassVar[type[OpenRouterConfig]] = OpenRouterConfig
    auth_requirement: ClassVar[str] = AUTH_REQUIREMENT
    bucket: ClassVar[str] = "1d"

    def __init__(
        self,
        config: OpenRouterConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context, clock=clock, timer=timer)
        self.remaining_credit_usd: Decimal | None = None
        self._credit_low = False

    async def check_connection(self) -> str:
        remaining = await self.read_credits()
        return (
            f"OpenRouter at {self.http.base_url} accepted the management key; "
            f"${remaining:.2f} credit remaining"
        )

    async def read_credits(self) -> Decimal:
        """``total_credits - total_usage`` from ``/credits``, exact; also stored
        in :attr:`remaining_credit_usd` and logged."""
        page = await self.http.get_json("/credits")
        data = page.body.get("data") if isinstance(page.body, dict) else None
        if not isinstance(data, dict):
            raise PageError(page.url, "expected an object with a `data` object")
        total = as_decimal(data.get("total_credits"), "`total_credits`", page.url)
        used = as_decimal(data.get("total_usage"), "`total_usage`", page.url)
        remaining = total - used
        self.remaining_credit_usd = remaining
        self.log.info("openrouter_credits", provider=self.instance, remaining_usd=str(remaining))
        threshold = self.config.low_credit_usd
        low = threshold is not None and remaining < threshold
        if low and not self._credit_low:
            self.log.warning(
                "openrouter_credit_low",
                provider=self.instance,
                remaining_usd=str(remaining),
                threshold_usd=str(threshold),
            )
        self._credit_low = low
        return remaining

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        now = self._clock()
        # Completed days only: "now" is floored to midnight by aligned_range.
        span = aligned_range(window, DAY, now)
        if span is None:
            return
        oldest = _midnight(now) - HISTORY_DAYS * DAY
        if span.start < oldest:
            self.log.warning(
                "history_unavailable",
                provider=self.instance,
                requested_from=span.start.date().isoformat(),
                available_from=oldest.date().isoformat(),
            )
            if span.end <= oldest:
                return
            span = Window(oldest, span.end)
        params: list[tuple[str, str]] = []
        if span.duration == DAY:
            params.append(("date", span.start.date().isoformat()))
        if self.config.workspace_id:
            params.append(("workspace_id", self.config.workspace_id))
        records: list[CostRecord] | None = None
        with self.setting_aside("/activity"):
            page = await self.http.get_json("/activity", params)
            records = self._records(page, span)
        if records is None:
            return  # set aside: the credits are not read either
        if records:
            yield records
        try:
            await self.read_credits()
        except (PageError, MalformedDataError) as exc:
            # The usage is safe; a credits hiccup must not fail the pass.
            self.log.warning(
                "openrouter_credits_unreadable", provider=self.instance, error=str(exc)
            )

    def _records(self, page: Page, span: Window) -> list[CostRecord]:
        body = page.body
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise PageError(page.url, "expected an object with a `data` list")
        records: list[CostRecord] = []
        for row in body["data"]:
            if not isinstance(row, dict):
                raise PageError(page.url, "an activity item is not an object")
            start = _day(row.get("date"), page.url)
            if not span.start <= start < span.end:
                continue
            records.extend(self._row_records(row, start, page.url))
        # Two endpoints of one upstream and model share a key: sum, never drop.
        return merge_duplicates(records)

    def _row_records(self, row: dict[str, Any], start: datetime, url: str) -> list[CostRecord]:
        upstream = as_text(row.get("provider_name")) or as_text(row.get("endpoint_id"))
        common: dict[str, Any] = {
            "start": start,
            "width": DAY,
            "provider": "openrouter",
            "account": self.account,
            "cost_source": CostSource.BILLED,
            "model": as_text(row.get("model")),
            "project_id": as_text(row.get("workspace_id")),
        }
        records = [
            CostRecord(
                **common,
                cost_usd=as_decimal(row.get("usage"), "`usage`", url),
                line_item=upstream,
                uncached_input_tokens=as_count(row, "prompt_tokens", url),
                output_tokens=as_count(row, "completion_tokens", url),
                requests=as_count(row, "requests", url),
            )
        ]
        byok_raw = row.get("byok_usage_inference")
        if self.config.include_byok and byok_raw is not None:
            byok = as_decimal(byok_raw, "`byok_usage_inference`", url)
            if byok:
                records.append(CostRecord(**common, cost_usd=byok, line_item=f"{upstream}, byok"))
        return records


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day(value: Any, url: str) -> datetime:
    if not isinstance(value, str):
        raise PageError(url, f"`date` {value!r} is not YYYY-MM-DD")
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        raise PageError(url, f"`date` {value!r} is not YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [OpenRouterProvider]
