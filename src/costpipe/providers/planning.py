"""Pieces the built-in bucketed providers share: window alignment, the
``{data, has_more, next_page}`` page envelope, tolerant field readers and
per-bucket de-duplication.

Alignment rule: a provider fetching window ``[a, b)`` returns exactly the
complete buckets that *end* in ``(a, b]``, i.e. it requests
``[floor(a), floor(min(b, now)))``. Consecutive windows therefore never
fetch a bucket twice nor skip one, whatever their alignment, and the
incomplete current bucket is never requested. For windows aligned to the
bucket width this is the same as "buckets inside the window".
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from costpipe.pricing.prices import PriceTable, TokenUsage
from costpipe.providers.base import FetchBudget, HttpClient, HttpProvider, Page, PageError
from costpipe.records import CostRecord, CostSource, Window

__all__ = [
    "MAX_AMOUNT",
    "MAX_COUNT",
    "WIDTHS",
    "Bucket",
    "PlannedRequest",
    "UsagePricer",
    "aligned_range",
    "as_count",
    "as_decimal",
    "as_text",
    "fetch_planned",
    "floor_time",
    "merge_duplicates",
    "page_buckets",
    "paginate",
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
class Bucket:
    """One time bucket of a page, its rows not yet interpreted."""

    start: datetime
    end: datetime
    results: list[dict[str, Any]]

    @property
    def width(self) -> timedelta:
        return self.end - self.start


def _moment(value: Any, url: str) -> datetime:
    if isinstance(value, bool):
        raise PageError(url, f"bucket time {value!r} is not a time")
    if isinstance(value, int | Decimal):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ArithmeticError, OSError, ValueError):
            # NaN, infinity, or a year outside 1..9999: a hostile page, not a crash.
            raise PageError(url, f"bucket time {value!r} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PageError(url, f"bucket time {value!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise PageError(url, f"bucket time {value!r} has no UTC offset")
        return parsed.astimezone(UTC)
    raise PageError(url, f"bucket time {value!r} is not a time")


def page_buckets(page: Page, start_key: str, end_key: str) -> tuple[list[Bucket], bool, str | None]:
    """Validate the envelope; return the buckets, ``has_more`` and ``next_page``."""
    body = page.body
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise PageError(page.url, "expected an object with a `data` list")
    buckets: list[Bucket] = []
    for raw in body["data"]:
        if not isinstance(raw, dict):
            raise PageError(page.url, "a bucket is not an object")
        results = raw.get("results")
        if results is None:
            results = []
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise PageError(page.url, "a bucket's `results` is not a list of objects")
        start = _moment(raw.get(start_key), page.url)
        end = _moment(raw.get(end_key), page.url)
        if end <= start:
            raise PageError(page.url, f"bucket ends before it starts ({start} >= {end})")
        buckets.append(Bucket(start, end, results))
    has_more = body.get("has_more") is True
    cursor = body.get("next_page")
    if cursor is not None and not isinstance(cursor, str):
        raise PageError(page.url, "`next_page` is not a string")
    if has_more and not cursor:
        raise PageError(page.url, "`has_more` is true but `next_page` is empty")
    return buckets, has_more, cursor


async def paginate(
    client: HttpClient,
    path: str,
    params: Sequence[tuple[str, str]],
    budget: FetchBudget | None = None,
) -> AsyncGenerator[Page, None]:
    """Yield every page of a cursor-paginated query, sending ``page=<next_page>``
    with otherwise identical parameters. A repeated cursor is a PageError (it
    would loop forever); *budget* bounds the pages and the time (a server that
    sends a fresh cursor on every page fails the pass)."""
    cursor: str | None = None
    seen: set[str] = set()
    number = 0
    while True:
        number += 1
        if budget is not None:
            budget.before_page(client.endpoint(path), number)
        query = [*params, ("page", cursor)] if cursor else list(params)
        page = await client.get_json(path, query)
        yield page
        _, has_more, next_cursor = page_buckets(page, *_bucket_keys(page))
        if not has_more or next_cursor is None:
            return
        if next_cursor in seen:
            raise PageError(page.url, "the server repeated a `next_page` cursor")
        seen.add(next_cursor)
        cursor = next_cursor


#: One request of a provider's plan for a window: path, query parameters, page parser.
PlannedRequest = tuple[str, list[tuple[str, str]], Callable[[Page], list[CostRecord]]]


async def fetch_planned(
    provider: HttpProvider[Any], plan: Iterable[PlannedRequest]
) -> AsyncIterator[Sequence[CostRecord]]:
    """Walk every request of *plan* through all its pages, yielding each page's
    records, an empty batch for a page without any: the core regains control
    after every page, so a stop is honoured between pages. A malformed page is
    set aside and the plan goes on with the next request, so one bad page never
    costs the rest of the window; the fetch's bounds fail the pass."""
    budget = provider.fetch_budget()
    for path, params, parse in plan:
        with provider.setting_aside(path):
            async with aclosing(paginate(provider.http, path, params, budget)) as pages:
                async for page in pages:
                    yield parse(page)


def _bucket_keys(page: Page) -> tuple[str, str]:
    # OpenAI names bucket bounds start_time/end_time, Anthropic starting_at/ending_at.
    body = page.body
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict) and "starting_at" in data[0]:
        return "starting_at", "ending_at"
    return "start_time", "end_time"


#: Largest token or request count a store can hold (a signed 64-bit integer).
MAX_COUNT = 2**63 - 1
#: Largest amount of one record, in the amount's unit (USD or cents): its
#: nanodollars must fit a signed 64-bit integer.
MAX_AMOUNT = Decimal(10) ** 9
_MAX_DIGITS = 19


def as_count(row: dict[str, Any], key: str, url: str) -> int:
    """A token or request counter: null or missing is 0, a fraction is an error."""
    value = row.get(key)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise PageError(url, f"`{key}` is a boolean")
    if isinstance(value, int):
        count = value
    elif (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < _MAX_DIGITS
        and value == value.to_integral_value()
    ) or (isinstance(value, str) and len(value) < 40 and value.strip().isdigit()):
        count = int(value)
    else:
        raise PageError(url, f"`{key}` is not a whole number: {str(value)[:40]!r}")
    if count < 0:
        raise PageError(url, f"`{key}` is negative: {count}")
    if count > MAX_COUNT:
        # Stores keep counts as signed 64-bit integers: refuse the page, not the write.
        raise PageError(url, f"`{key}` is implausibly large: {str(count)[:40]}")
    return count


def as_decimal(value: Any, what: str, url: str) -> Decimal:
    """Money from a JSON number (already Decimal) or a decimal string, exactly."""
    if isinstance(value, bool) or value is None:
        raise PageError(url, f"{what} is {value!r}, not an amount")
    if isinstance(value, Decimal | int):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise PageError(url, f"{what} {value!r} is not a decimal number") from None
    else:
        raise PageError(url, f"{what} {value!r} is not an amount")
    if not amount.is_finite():
        raise PageError(url, f"{what} {value!r} is not finite")
    if abs(amount) > MAX_AMOUNT:
        # Stores keep money as signed 64-bit nanodollars: refuse the page, not the write.
        raise PageError(url, f"{what} {str(value)[:40]!r} is implausibly large")
    return amount


def as_text(value: Any) -> str:
    """A dimension value: null is ``""``, numbers and booleans become text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
        if previous is None:
            merged[identity] = record
            continue
        merged[identity] = replace(
            previous,
            cost_usd=previous.cost_usd + record.cost_usd,
            uncached_input_tokens=previous.uncached_input_tokens + record.uncached_input_tokens,
            cached_input_tokens=previous.cached_input_tokens + record.cached_input_tokens,
            cache_write_tokens=previous.cache_write_tokens + record.cache_write_tokens,
            output_tokens=previous.output_tokens + record.output_tokens,
            requests=previous.requests + record.requests,
            # An unpriced part makes the whole estimate incomplete.
            cost_source=max(previous.cost_source, record.cost_source, key=_source_rank),
        )
    return list(merged.values())


def _source_rank(source: Any) -> int:
    return {"billed": 0, "estimated": 1, "unpriced": 2}.get(str(source), 0)


class UsagePricer:
    """Prices usage rows with the context's table (the bundled one when the
    core passed none) and logs each unpriced model once per instance."""

    def __init__(
        self, provider_kind: str, instance: str, table: PriceTable | None, log: Any
    ) -> None:
        self._kind = provider_kind
        self._instance = instance
        self._table: PriceTable = table if table is not None else PriceTable.bundled()
        self._log = log
        self._unpriced: set[str] = set()

    def price(
        self, model: str, day: datetime, usage: TokenUsage, tier: str = ""
    ) -> tuple[Decimal, CostSource]:
        """``(cost, estimated)``, or ``(0, unpriced)`` when *model* has no price."""
        return self.price_tokens(
            model,
            day,
            tier,
            usage.uncached_input,
            usage.cached_input,
            usage.cache_write,
            usage.output,
            usage.cache_write_1h,
        )

    def price_tokens(
        self,
        model: str,
        day: datetime,
        tier: str,
        uncached_input: int,
        cached_input: int,
        cache_write: int,
        output: int,
        cache_write_1h: int = 0,
    ) -> tuple[Decimal, CostSource]:
        """:meth:`price` without building a :class:`TokenUsage` (once per usage row)."""
        rate = self._table.rate(self._kind, model, day.date(), tier)
        if rate is not None:
            cost = rate.cost(uncached_input, cached_input, cache_write, cache_write_1h, output)
            return cost, CostSource.ESTIMATED
        if model not in self._unpriced:
            self._unpriced.add(model)
            self._log.warning(
                "model_unpriced",
                provider=self._instance,
                model=model or "(none)",
                prices=self._table.version,
            )
        return Decimal(0), CostSource.UNPRICED
