"""Anthropic Admin API usage and cost reports (``[[providers.anthropic]]``).

* Usage report ``/v1/organizations/usage_report/messages`` (``bucket_width``,
  hourly by default), grouped by model, workspace, API key and service tier,
  priced with the price table -> ``estimated`` (or ``unpriced``).
* Cost report ``/v1/organizations/cost_report`` (daily), grouped by workspace
  and description -> ``billed``. ``amount`` is a decimal *string in cents*:
  dollars are ``Decimal(amount) / 100``, exactly.

Token mapping: Anthropic's categories are already disjoint.
``uncached_input_tokens`` -> uncached, ``cache_read_input_tokens`` -> cached,
``cache_creation.ephemeral_5m_input_tokens + ephemeral_1h_input_tokens`` ->
cache writes (priced separately: 1-hour writes cost more). The default
workspace (``workspace_id: null``) is recorded as project ``default``.

Windows are aligned as for every built-in provider (see
:mod:`costpipe.providers.planning`); a malformed page is set aside and the
next piece of the window is fetched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field

from costpipe.components import ComponentContext, Provider
from costpipe.hookspecs import hookimpl
from costpipe.pricing.prices import TokenUsage
from costpipe.providers.base import HttpProvider, HttpProviderConfig, Page, PageError, Timer
from costpipe.providers.planning import (
    WIDTHS,
    Bucket,
    PlannedRequest,
    UsagePricer,
    aligned_range,
    as_count,
    as_decimal,
    as_text,
    fetch_planned,
    floor_time,
    merge_duplicates,
    page_buckets,
)
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["AnthropicConfig", "AnthropicProvider", "register_providers"]

API_VERSION = "2023-06-01"
AUTH_REQUIREMENT = "an Anthropic Admin API key (sk-ant-admin...)"
DEFAULT_WORKSPACE = "default"

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
COST_PAGE_LIMIT = 31
USAGE_PAGE_LIMITS = {"1d": 31, "1h": 168, "1m": 1440}
_USAGE_GROUPS = ("model", "workspace_id", "api_key_id", "service_tier")
_COST_GROUPS = ("workspace_id", "description")
_CENTS = Decimal(100)

# Cost-row fields that split one description into several priced rows; a
# non-default value is folded into `line_item` so each row keeps its own key.
_COST_QUALIFIERS = (
    ("service_tier", {"standard"}),
    ("context_window", {"0-200k"}),
    ("inference_geo", {"global", "not_available"}),
    ("speed", {"standard"}),
)


class AnthropicConfig(HttpProviderConfig):
    """``[[providers.anthropic]]``."""

    base_url: str = Field(default="https://api.anthropic.com", description="API root.")
    bucket_width: Literal["1m", "1h", "1d"] = Field(
        default="1h", description="Usage bucket width; costs are always daily."
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _workspace(row: dict[str, Any]) -> str:
    return as_text(row.get("workspace_id")) or DEFAULT_WORKSPACE


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
        self._pricer = UsagePricer("anthropic", self.instance, context.prices, self.log)

    async def check_connection(self) -> str:
        day = floor_time(self._clock(), WIDTHS["1d"]) - WIDTHS["1d"]
        params = [("starting_at", _rfc3339(day)), ("limit", "1")]
        await self.http.get_json(COST_PATH, params)
        return f"Anthropic cost report at {self.http.base_url} accepted the Admin key"

    def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        return fetch_planned(self, self._requests(window, self._clock()))

    def _requests(self, window: Window, now: datetime) -> list[PlannedRequest]:
        """Every (path, params, parser) to fetch for *window*, costs first."""
        plan: list[PlannedRequest] = []
        day = WIDTHS["1d"]
        span = aligned_range(window, day, now)
        if span is not None:
            for piece in span.split(day * COST_PAGE_LIMIT):
                params = [
                    *_time_params(piece),
                    ("bucket_width", "1d"),
                    ("limit", str(_buckets_in(piece, day))),
                    *[("group_by[]", g) for g in _COST_GROUPS],
                ]
                plan.append((COST_PATH, params, self._parser(piece, self._cost_record)))

        width = WIDTHS[self.config.bucket_width]
        span = aligned_range(window, width, now)
        if span is not None:
            limit = USAGE_PAGE_LIMITS[self.config.bucket_width]
            for piece in span.split(width * limit):
                params = [
                    *_time_params(piece),
                    ("bucket_width", self.config.bucket_width),
                    ("limit", str(_buckets_in(piece, width))),
                    *[("group_by[]", g) for g in _USAGE_GROUPS],
                ]
                plan.append((USAGE_PATH, params, self._parser(piece, self._usage_record)))
        return plan

    def _parser(
        self,
        span: Window,
        build: Callable[[Bucket, dict[str, Any], str], CostRecord | None],
    ) -> Callable[[Page], list[CostRecord]]:
        def parse(page: Page) -> list[CostRecord]:
            buckets, _, _ = page_buckets(page, "starting_at", "ending_at")
            records: list[CostRecord] = []
            for bucket in buckets:
                # The API snaps starting_at to the bucket; drop anything outside the
                # requested range so that every record lies in the window.
                if not (span.start <= bucket.start and bucket.end <= span.end):
                    continue
                for row in bucket.results:
                    record = build(bucket, row, page.url)
                    if record is not None:
                        records.append(record)
            return merge_duplicates(records)

        return parse

    def _cost_record(self, bucket: Bucket, row: dict[str, Any], url: str) -> CostRecord | None:
        if row.get("amount") is None:
            return None
        currency = as_text(row.get("currency")).upper() or "USD"
        if currency != "USD":
            raise PageError(url, f"amount in {currency!r}; costpipe records USD only")
        cents = as_decimal(row.get("amount"), "`amount`", url)
        description = as_text(row.get("description")) or as_text(row.get("cost_type"))
        qualifiers = [
            value
            for key, defaults in _COST_QUALIFIERS
            if (value := as_text(row.get(key))) and value not in defaults
        ]
        return CostRecord(
            start=bucket.start,
            width=bucket.width,
            provider="anthropic",
            account=self.account,
            cost_source=CostSource.BILLED,
            cost_usd=cents / _CENTS,
            model=as_text(row.get("model")),
            project_id=_workspace(row),
            line_item=", ".join([description, *qualifiers]),
        )

    def _usage_record(self, bucket: Bucket, row: dict[str, Any], url: str) -> CostRecord:
        creation = row.get("cache_creation")
        if creation is None:
            creation = {}
        if not isinstance(creation, dict):
            raise PageError(url, f"`cache_creation` is not an object: {creation!r}")
        write_5m = as_count(creation, "ephemeral_5m_input_tokens", url)
        write_1h = as_count(creation, "ephemeral_1h_input_tokens", url)
        usage = TokenUsage(
            uncached_input=as_count(row, "uncached_input_tokens", url),
            cached_input=as_count(row, "cache_read_input_tokens", url),
            cache_write=write_5m,
            cache_write_1h=write_1h,
            output=as_count(row, "output_tokens", url),
        )
        model = as_text(row.get("model"))
        tier = as_text(row.get("service_tier"))
        line_item = "messages" if tier in ("", "standard") else f"messages, {tier}"
        cost, source = self._pricer.price(model, bucket.start, usage, tier)
        return CostRecord(
            start=bucket.start,
            width=bucket.width,
            provider="anthropic",
            account=self.account,
            cost_source=source,
            cost_usd=cost,
            model=model,
            project_id=_workspace(row),
            api_key_id=as_text(row.get("api_key_id")),
            line_item=line_item,
            uncached_input_tokens=usage.uncached_input,
            cached_input_tokens=usage.cached_input,
            cache_write_tokens=write_5m + write_1h,
            output_tokens=usage.output,
        )


def _time_params(piece: Window) -> list[tuple[str, str]]:
    return [("starting_at", _rfc3339(piece.start)), ("ending_at", _rfc3339(piece.end))]


def _buckets_in(piece: Window, width: timedelta) -> int:
    return max(1, -(-piece.duration // width))


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [AnthropicProvider]
