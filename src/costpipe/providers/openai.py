"""OpenAI organization Costs and Usage APIs (``[[providers.openai]]``).

Money comes from the Costs API (``billed``: what the invoice says, daily, per
project, line item and API key). Tokens, requests and users come from the
Usage API (completions and embeddings), priced with the price table
(``estimated``, or ``unpriced`` for a model without a price). The two are
different bases and are never summed together; OpenAI itself says they need
not reconcile exactly.

Token mapping (the double-count trap): OpenAI's ``input_tokens`` *includes*
cached and cache-write tokens. costpipe's disjoint ``uncached_input_tokens``
is ``input_uncached_tokens`` when the server sends it, else
``input_tokens - input_cached_tokens - input_cache_write_tokens``.

Fetching ``[a, b)`` requests the complete buckets ending in ``(a, b]`` (see
:mod:`costpipe.providers.planning`) in pieces of one page's worth of buckets;
a malformed page is set aside and the next piece is fetched.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from costpipe.components import ComponentContext, Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.base import HttpProvider, HttpProviderConfig, Page, PageError, Timer
from costpipe.providers.planning import (
    MAX_COUNT,
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

__all__ = ["OpenAIConfig", "OpenAIProvider", "model_from_line_item", "register_providers"]

AUTH_REQUIREMENT = "an OpenAI Admin key (sk-admin-...) with the api.usage.read scope"

#: Most buckets one page may hold, by endpoint and width (the API's maxima).
COSTS_PAGE_LIMIT = 180
USAGE_PAGE_LIMITS = {"1d": 31, "1h": 168, "1m": 1440}

_USAGE_GROUPS = {
    "completions": ("model", "project_id", "user_id", "api_key_id", "batch", "service_tier"),
    "embeddings": ("model", "project_id", "user_id", "api_key_id"),
}
#: Most (endpoint, batch, service tier) line items one instance memoizes.
_LINE_ITEM_MEMO = 256
_MODEL_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class OpenAIConfig(HttpProviderConfig):
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


def model_from_line_item(line_item: str) -> str:
    """Best-effort model of a Costs line item, ``""`` when there is none.

    ``"gpt-4o-2024-08-06, input"`` and ``"evals | gpt-4o-mini-2024-07-18, input"``
    name a model; ``"assistants api | file search"`` does not.
    """
    tail = line_item.rsplit(" | ", 1)[-1]
    if ", " not in tail:
        return ""
    candidate = tail.rsplit(", ", 1)[0].strip()
    # A fine-tuned model's suffix is chosen by its owner and may hold any character
    # (even ", "), so only the "ft:" prefix is checked; base model names are tokens.
    if candidate.startswith("ft:") or _MODEL_TOKEN.match(candidate):
        return candidate
    return ""


def _usage_line_item(endpoint: str, batch: bool, service_tier: str) -> tuple[str, str]:
    """``(line_item, pricing tier)``: ``completions``, ``completions, batch``,
    ``completions, flex``... so rows of one bucket keep distinct keys."""
    parts = [endpoint]
    tier = ""
    if batch:
        parts.append("batch")
        tier = "batch"
    if service_tier and service_tier != "default":
        parts.append(service_tier)
        tier = tier or service_tier
    return ", ".join(parts), tier


def _count(row: dict[str, Any], key: str, url: str) -> int:
    """:func:`as_count`, with the common case (a plain int in range) first."""
    value = row.get(key)
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return as_count(row, key, url)


def _text(value: Any) -> str:
    """:func:`as_text`, with the common case (a string) first."""
    return value if type(value) is str else as_text(value)


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
        self._line_items: dict[tuple[str, bool, str], tuple[str, str]] = {}

    async def check_connection(self) -> str:
        day = floor_time(self._clock(), WIDTHS["1d"]) - WIDTHS["1d"]
        params = [("start_time", str(int(day.timestamp()))), ("limit", "1")]
        await self.http.get_json("/organization/costs", params)
        return f"OpenAI Costs API at {self.http.base_url} accepted the Admin key"

    def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        return fetch_planned(self, self._requests(window, self._clock()))

    def _requests(self, window: Window, now: datetime) -> list[PlannedRequest]:
        """Every (path, params, parser) to fetch for *window*, costs first."""
        plan: list[PlannedRequest] = []
        projects = [("project_ids", p) for p in self.config.project_ids]

        day = WIDTHS["1d"]
        span = aligned_range(window, day, now)
        if span is not None:
            groups = ["project_id", "line_item"]
            if self.config.cost_group_by_api_key:
                groups.append("api_key_id")
            for piece in span.split(day * COSTS_PAGE_LIMIT):
                params = [
                    *_time_params(piece),
                    ("bucket_width", "1d"),
                    ("limit", str(_buckets_in(piece, day))),
                    *[("group_by", g) for g in groups],
                    *projects,
                ]
                plan.append(("/organization/costs", params, self._cost_parser(piece)))

        width = WIDTHS[self.config.bucket_width]
        span = aligned_range(window, width, now)
        if span is not None:
            limit = USAGE_PAGE_LIMITS[self.config.bucket_width]
            for endpoint, usage_groups in _USAGE_GROUPS.items():
                for piece in span.split(width * limit):
                    params = [
                        *_time_params(piece),
                        ("bucket_width", self.config.bucket_width),
                        ("limit", str(_buckets_in(piece, width))),
                        *[("group_by", g) for g in usage_groups],
                        *projects,
                    ]
                    plan.append(
                        (
                            f"/organization/usage/{endpoint}",
                            params,
                            self._usage_parser(endpoint, piece),
                        )
                    )
        return plan

    def _buckets(self, page: Page, span: Window) -> list[Bucket]:
        buckets, _, _ = page_buckets(page, "start_time", "end_time")
        # A server may add a partial or neighbouring bucket; keeping it would put
        # a record outside the window (and make keys depend on request edges).
        return [b for b in buckets if span.start <= b.start and b.end <= span.end]

    def _cost_parser(self, span: Window) -> Callable[[Page], list[CostRecord]]:
        def parse(page: Page) -> list[CostRecord]:
            records: list[CostRecord] = []
            for bucket in self._buckets(page, span):
                for row in bucket.results:
                    record = self._cost_record(bucket, row, page.url)
                    if record is not None:
                        records.append(record)
            return merge_duplicates(records)

        return parse

    def _cost_record(self, bucket: Bucket, row: dict[str, Any], url: str) -> CostRecord | None:
        amount = row.get("amount")
        if amount is None or (isinstance(amount, dict) and amount.get("value") is None):
            return None  # nothing was charged for this group
        if not isinstance(amount, dict):
            raise PageError(url, f"`amount` is not an object: {amount!r}")
        currency = as_text(amount.get("currency")).lower() or "usd"
        if currency != "usd":
            raise PageError(url, f"amount in {currency!r}; costpipe records USD only")
        line_item = as_text(row.get("line_item"))
        return CostRecord(
            start=bucket.start,
            width=bucket.width,
            provider="openai",
            account=self.account,
            cost_source=CostSource.BILLED,
            cost_usd=as_decimal(amount.get("value"), "`amount.value`", url),
            model=model_from_line_item(line_item),
            project_id=as_text(row.get("project_id")),
            api_key_id=as_text(row.get("api_key_id")),
            line_item=line_item,
        )

    def _usage_parser(self, endpoint: str, span: Window) -> Callable[[Page], list[CostRecord]]:
        def parse(page: Page) -> list[CostRecord]:
            records = [
                self._usage_record(endpoint, bucket, row, page.url)
                for bucket in self._buckets(page, span)
                for row in bucket.results
            ]
            return merge_duplicates(records)

        return parse

    def _usage_record(
        self, endpoint: str, bucket: Bucket, row: dict[str, Any], url: str
    ) -> CostRecord:
        # Runs once per usage row (tens of thousands per hourly page): plain-int and
        # string fields take the fast readers, line items are memoized per
        # (endpoint, batch, service tier); the checks and their order are as_count's.
        total_input = _count(row, "input_tokens", url)
        cached = _count(row, "input_cached_tokens", url)
        cache_write = _count(row, "input_cache_write_tokens", url)
        if row.get("input_uncached_tokens") is not None:
            uncached = _count(row, "input_uncached_tokens", url)
        else:
            uncached = total_input - cached - cache_write
            if uncached < 0:
                raise PageError(
                    url,
                    f"input_tokens {total_input} < cached {cached} + cache writes {cache_write}",
                )
        output = _count(row, "output_tokens", url)
        model = _text(row.get("model"))
        line_key = (endpoint, row.get("batch") is True, _text(row.get("service_tier")))
        try:
            line_item, tier = self._line_items[line_key]
        except KeyError:
            line_item, tier = _usage_line_item(*line_key)
            if len(self._line_items) < _LINE_ITEM_MEMO:  # a server inventing tiers stays bounded
                self._line_items[line_key] = (line_item, tier)
        cost, source = self._pricer.price_tokens(
            model, bucket.start, tier, uncached, cached, cache_write, output
        )
        return CostRecord(
            start=bucket.start,
            width=bucket.width,
            provider="openai",
            account=self.account,
            cost_source=source,
            cost_usd=cost,
            model=model,
            user_id=_text(row.get("user_id")),
            project_id=_text(row.get("project_id")),
            api_key_id=_text(row.get("api_key_id")),
            line_item=line_item,
            uncached_input_tokens=uncached,
            cached_input_tokens=cached,
            cache_write_tokens=cache_write,
            output_tokens=output,
            requests=_count(row, "num_model_requests", url),
        )


def _time_params(piece: Window) -> list[tuple[str, str]]:
    return [
        ("start_time", str(int(piece.start.timestamp()))),
        ("end_time", str(int(piece.end.timestamp()))),
    ]


def _buckets_in(piece: Window, width: timedelta) -> int:
    return max(1, -(-piece.duration // width))


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [OpenAIProvider]
