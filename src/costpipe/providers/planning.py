"""The request-plan loop the built-in bucketed providers share, with window
alignment, pricing of usage rows and per-bucket de-duplication.

A provider is a *planner* (which requests a window needs) plus *decoders*
(one page's bytes in, its records and next-page cursor out; no IO). The loop
here, :func:`fetch_planned`, is the only part that talks to the network: it
walks every :class:`PlannedRequest` through its pages, sends ``page=<cursor>``
with otherwise identical parameters, and sets a malformed page aside.

Alignment rule: a provider fetching window ``[a, b)`` returns exactly the
complete buckets that *end* in ``(a, b]``, i.e. it requests
``[floor(a), floor(min(b, now)))``. Consecutive windows therefore never
fetch a bucket twice nor skip one, whatever their alignment, and the
incomplete current bucket is never requested. For windows aligned to the
bucket width this is the same as "buckets inside the window".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import Field

from costpipe.errors import MalformedDataError
from costpipe.pricing.prices import PriceTable, TokenUsage, UsageRate, normal_tier
from costpipe.providers.base import HttpProvider, HttpProviderConfig, PageError
from costpipe.providers.http.responses import RawPage
from costpipe.records import TOKEN_FIELDS, CostRecord, CostSource, PriceSource, Window

__all__ = [
    "WIDTHS",
    "DecodedPage",
    "PageDecoder",
    "PlannedConfig",
    "PlannedRequest",
    "UsagePricer",
    "add_records",
    "aligned_range",
    "fetch_planned",
    "floor_time",
    "merge_duplicates",
    "priced_by",
]

WIDTHS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_time(moment: datetime, width: timedelta) -> datetime:
    """*moment* rounded down to a multiple of *width* since the Unix epoch (UTC)."""
    steps = (moment - _EPOCH) // width
    return _EPOCH + steps * width


def aligned_range(window: Window, width: timedelta, now: datetime) -> Window | None:
    """The bucket range to request for *window* (see the module docstring),
    or ``None`` when no complete bucket ends inside it."""
    start = floor_time(window.start, width)
    end = floor_time(min(window.end, now), width)
    return Window(start, end) if end > start else None


@dataclass(frozen=True, slots=True)
class DecodedPage:
    """What one page holds: its records and where the next page is."""

    records: list[CostRecord]
    has_more: bool = False
    next_page: str | None = None


#: One page's bytes in, its records and cursor out; raises MalformedDataError.
PageDecoder = Callable[[bytes], DecodedPage]


class PlannedRequest(NamedTuple):
    """One request of a provider's plan for a window."""

    path: str
    params: list[tuple[str, str]]
    decode: PageDecoder


class PlannedConfig(HttpProviderConfig):
    """Options of a provider whose fetch is :func:`fetch_planned`."""

    concurrent_requests: int = Field(
        default=2,
        ge=1,
        le=8,
        description="Requests of one pass in flight at once: the next requests' first "
        "pages are fetched while the current page is decoded and written (1: one at a time, "
        "for an API with a tight rate limit).",
    )


#: A page body at least this large is decoded in the decoding thread, so that
#: the event loop keeps the writes of earlier pages going meanwhile (an hourly
#: OpenAI completions page of a day holds thousands of rows, tens of ms of
#: decoding). Smaller pages decode faster than a thread hand-off is worth.
DECODE_OFF_LOOP_BYTES = 256 * 1024

#: The one thread that decodes every large page of the process (all passes,
#: all providers). One, not the default executor's pool of up to cores + 4:
#: decoding holds the GIL (msgspec and the record loop are Python-bound), so
#: more threads decode no faster, they only contend with the loop and each
#: other for the GIL, and each that allocates gets a malloc arena of its own.
#: (That last is not what set the backfill's peak: ``MALLOC_ARENA_MAX=2``
#: changed it by 1.5 MiB; see docs/performance.md.) Created on first use; the
#: idle worker ends with the interpreter.
_DECODER: concurrent.futures.ThreadPoolExecutor | None = None


def _decoder() -> concurrent.futures.ThreadPoolExecutor:
    global _DECODER
    if _DECODER is None:
        _DECODER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="costpipe-decode")
    return _DECODER


async def _decoded(decode: PageDecoder, body: bytes) -> DecodedPage:
    if len(body) < DECODE_OFF_LOOP_BYTES:
        return decode(body)
    # Decoders are pure (bytes in, records out; their caches are plain dicts
    # and the GIL keeps those whole), so a thread may run them. In the caller's
    # context (as asyncio.to_thread does), so a log line keeps its bound fields.
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_decoder(), context.run, decode, body)


async def fetch_planned(
    provider: HttpProvider[Any], plan: Iterable[PlannedRequest]
) -> AsyncIterator[Sequence[CostRecord]]:
    """Walk every request of *plan* through all its pages, yielding each page's
    records, an empty batch for a page without any: the core regains control
    after every page, so a stop is honoured between pages. A malformed page is
    set aside (with the JSON path of the bad value) and the plan goes on with
    the next request, so one bad page never costs the rest of the window. A
    repeated cursor is a malformed page (it would loop forever); the fetch's
    bounds (pages, time) fail the pass.

    Up to ``concurrent_requests`` requests are in flight: while one request's
    pages are fetched, decoded and handed on, the first pages of the next ones
    are already being fetched (their bodies wait, at most one per request),
    once the API has answered one request (a refused key costs one request).
    Pages are still yielded in plan order, and a prefetched page's error is
    raised where that request's own page would have raised it. A later page of
    a request needs the cursor of the one before, so those are fetched in turn."""
    budget = provider.fetch_budget()
    client = provider.http
    requests = list(plan)
    # A plugin's provider may call this with a plain HttpProviderConfig: one at a time.
    lookahead = max(1, getattr(provider.config, "concurrent_requests", 1)) - 1
    first_pages: dict[int, asyncio.Task[RawPage]] = {}

    answered = False  # no lookahead before the API accepted the key once

    def prefetch(upto: int) -> None:
        if not answered:
            return
        for index in range(upto + 1, min(upto + 1 + lookahead, len(requests))):
            if index not in first_pages:
                path, params, _ = requests[index]
                budget.before_page(client.endpoint(path), 1)
                first_pages[index] = asyncio.ensure_future(client.get_bytes(path, list(params)))

    try:
        for index, (path, params, decode) in enumerate(requests):
            prefetch(index)
            with provider.setting_aside(path):
                cursor: str | None = None
                seen: set[str] = set()
                number = 0
                while True:
                    number += 1
                    if number == 1 and index in first_pages:
                        raw = await first_pages.pop(index)
                    else:
                        budget.before_page(client.endpoint(path), number)
                        query = [*params, ("page", cursor)] if cursor else list(params)
                        raw = await client.get_bytes(path, query)
                    if not answered:
                        answered = True
                        prefetch(index)
                    url = raw.url
                    try:
                        page = await _decoded(decode, raw.body)
                    except MalformedDataError as exc:
                        raise PageError(url, str(exc)) from None
                    # The body is not needed past here: do not keep it (tens of MiB
                    # for an hourly page) while the records are written.
                    del raw
                    records, has_more, next_page = page.records, page.has_more, page.next_page
                    del page
                    yield records
                    del records
                    if not has_more:
                        break
                    if not next_page:
                        raise PageError(url, "`has_more` is true but `next_page` is empty")
                    if next_page in seen:
                        raise PageError(url, "the server repeated a `next_page` cursor")
                    seen.add(next_page)
                    cursor = next_page
    finally:
        for task in first_pages.values():
            task.cancel()
        for task in first_pages.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def merge_duplicates(records: Iterable[CostRecord]) -> list[CostRecord]:
    """Sum records that share a key (a server splitting one group by a field
    costpipe does not keep), so that an upsert by key never drops money."""
    # The identity as a tuple of the fields that make up ``CostRecord.key``: equal
    # exactly when the keys are, without hashing every record twice (this runs on
    # every row of every page).
    merged: dict[tuple[object, ...], CostRecord] = {}
    for record in records:
        identity = (
            record.provider,
            record.account,
            record.basis,
            record.start,
            record.width,
            record.model,
            record.user_id,
            record.project_id,
            record.api_key_id,
            record.line_item,
        )
        previous = merged.get(identity)
        merged[identity] = record if previous is None else add_records(previous, record)
    return list(merged.values())


def add_records(first: CostRecord, second: CostRecord) -> CostRecord:
    """*first* with the money and counts of *second* (a record of the same key)
    added; unpriced if either is."""
    # An unpriced part makes the whole estimate incomplete: its cost is then 0
    # (unknown, CostSource.UNPRICED), never a partial sum.
    source = max(first.cost_source, second.cost_source, key=_source_rank)
    unpriced = source == CostSource.UNPRICED
    prices = {first.price_source, second.price_source} - {""}
    # Built field by field (not dataclasses.replace) so that it holds whatever
    # class CostRecord is built on.
    return CostRecord(
        start=first.start,
        width=first.width,
        provider=first.provider,
        account=first.account,
        cost_source=source,
        cost_usd=Decimal(0) if unpriced else first.cost_usd + second.cost_usd,
        price_source=PriceSource("" if unpriced else "; ".join(sorted(prices))),
        model=first.model,
        user_id=first.user_id,
        project_id=first.project_id,
        api_key_id=first.api_key_id,
        line_item=first.line_item,
        tags=first.tags,
        # Every counter (tokens, requests, units) adds up; rare (duplicate keys only).
        **{name: getattr(first, name) + getattr(second, name) for name in TOKEN_FIELDS},
    )


def _source_rank(source: Any) -> int:
    return {"billed": 0, "estimated": 1, "unpriced": 2}.get(str(source), 0)


_UNPRICED = (Decimal(0), CostSource.UNPRICED, PriceSource(""))


def priced_by(
    rate: UsageRate | None, cost: Decimal | None
) -> tuple[Decimal, CostSource, PriceSource]:
    """``(cost, estimated, the rate's source)`` for a row *rate* priced at
    *cost*; ``(0, unpriced, "")`` when it has no rate or a count had no price."""
    if rate is None or cost is None:
        return _UNPRICED
    return cost, CostSource.ESTIMATED, PriceSource(rate.source)


class UsagePricer:
    """Prices usage rows with the context's table (genai-prices' data when the
    core passed none) and logs each unpriced (model, tier) once per instance,
    with the table's reason (no such model, no such tier on that day...)."""

    def __init__(
        self, provider_kind: str, instance: str, table: PriceTable | None, log: Any
    ) -> None:
        self._kind = provider_kind
        self._instance = instance
        self._table: PriceTable = table if table is not None else PriceTable.bundled()
        self._log = log
        self._unpriced: set[tuple[str, str]] = set()
        self._unpriced_counters: set[tuple[str, str]] = set()

    def rate(self, model: str, day: datetime, tier: str = "") -> UsageRate | None:
        """The rate of *model* on *day*'s UTC date in *tier*, ``None`` (logged
        once per model and tier) when it has no price. Decoders ask once per
        model and tier of a bucket, not once per row."""
        rate = self._table.rate(self._kind, model, day.date(), tier)
        if rate is None and (model, tier) not in self._unpriced:
            self._unpriced.add((model, tier))
            on = day.date()
            known = bool(normal_tier(tier)) and self._table.rate(self._kind, model, on) is not None
            self._log.warning(
                "tier_unpriced" if known else "model_unpriced",
                provider=self._instance,
                model=model or "(none)",
                tier=tier or "standard",
                reason=self._table.unpriced_reason(self._kind, model, on, tier),
                prices=self._table.version,
            )
        return rate

    def counter_unpriced(self, model: str, counter: str) -> None:
        """Log once per model and counter that a row is unpriced because its
        *counter* (audio tokens, images...) has no price in the model's rate,
        or the row has no model to be priced by (``model`` empty)."""
        if (model, counter) in self._unpriced_counters:
            return
        self._unpriced_counters.add((model, counter))
        self._log.warning(
            "counter_unpriced",
            provider=self._instance,
            model=model or "(none)",
            counter=counter,
            reason=f"the price data has no price for {counter}",
            prices=self._table.version,
        )

    def price(
        self, model: str, day: datetime, usage: TokenUsage, tier: str = ""
    ) -> tuple[Decimal, CostSource, str]:
        """``(cost, estimated, price source)``, or ``(0, unpriced, "")`` when
        *model* has no price in *tier* (or a count of *usage* has none)."""
        rate = self.rate(model, day, tier)
        cost = None if rate is None else rate.cost(
            usage.uncached_input,
            usage.cached_input,
            usage.cache_write,
            usage.cache_write_1h,
            usage.output,
        )  # fmt: skip
        if rate is None or cost is None:
            return Decimal(0), CostSource.UNPRICED, ""
        return cost, CostSource.ESTIMATED, rate.source
