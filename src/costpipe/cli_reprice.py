"""``costpipe reprice --since --until [--provider]``: re-estimate stored usage
with the current price table, without fetching anything from the providers.

After a genai-prices upgrade or a ``[[prices]]`` change, the estimated rows
already stored still carry the old figures. ``reprice`` reads them back from
every configured store that can be read (the readers' ``stored_rows``, one UTC
day and provider at a time, so memory stays bounded), prices each with the
table exactly as the provider's decoder would (the tier is in the line item),
and writes back only the rows whose cost, cost source or price source changed.
A row keeps its key, so the store replaces it; running it twice changes
nothing the second time (idempotent).

Only the providers whose usage costpipe prices with the table are repriced
(:data:`REPRICED`); billed rows and other providers' estimates (Ollama's GPU
hours) are never touched. Rows stored before 1-hour cache writes were kept
apart hold them in ``cache_write_tokens`` and are priced as 5-minute writes.

The result names every (provider, account, UTC day) whose estimates changed
(:attr:`RepriceResult.touched`): the hook for work that derives from the
estimates, such as allocating a bill over them, which must run again for
exactly those days (see :func:`after_reprice`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol, TextIO, runtime_checkable

import structlog

from costpipe.allocation.runner import reallocate
from costpipe.components import Sink
from costpipe.config.settings import Settings
from costpipe.errors import ConfigError, CostpipeError
from costpipe.pricing.categories import CATEGORIES
from costpipe.pricing.prices import PriceTable
from costpipe.query.api import Basis, CostQuery
from costpipe.records import TOKEN_FIELDS, CostRecord, CostSource, PriceSource, Window

__all__ = [
    "REPRICED",
    "RepriceResult",
    "add_arguments",
    "after_reprice",
    "pricing_tier",
    "reprice_store",
    "repriced",
    "run",
]

#: Provider kinds whose usage costpipe estimates with the price table.
REPRICED = ("openai", "anthropic")
_DAY = timedelta(days=1)
_LONG_CONTEXT = "200k-1M"
#: Counters no price in the table covers: a row using one stays unpriced.
_NEVER_PRICED = tuple(f for f in TOKEN_FIELDS if f not in CATEGORIES and f != "requests")
_log = structlog.get_logger("costpipe.reprice")


@runtime_checkable
class RowStore(Protocol):
    """What reprice reads: a store reader's exact rows (``SQLiteReader``,
    ``InfluxDBReader``, the testing ``MemorySink``)."""

    async def stored_rows(self, query: CostQuery) -> list[CostRecord]: ...


def add_arguments(parser: argparse.ArgumentParser, moment: Callable[[str], datetime]) -> None:
    parser.add_argument("--since", required=True, type=moment, help="start (date or timestamp)")
    parser.add_argument("--until", type=moment, help="end, exclusive (default: now)")
    parser.add_argument(
        "--provider",
        action="append",
        choices=REPRICED,
        help="only this provider kind (repeatable; default: all it prices)",
    )


def pricing_tier(record: CostRecord) -> str:
    """The tier the decoder priced *record* in, read back from its line item:
    OpenAI ``completions, batch`` -> ``batch``; Anthropic ``messages, batch,
    200k-1M`` -> ``batch@200k-1M``. Other line items were priced standard."""
    head, *qualifiers = record.line_item.split(", ")
    if record.provider == "anthropic" and head == "messages":
        window = _LONG_CONTEXT in qualifiers
        tiers = [q for q in qualifiers if q != _LONG_CONTEXT]
        tier = tiers[0] if tiers else ""
        return f"{tier or 'standard'}@{_LONG_CONTEXT}" if window else tier
    if record.provider == "openai" and head == "completions" and qualifiers:
        return qualifiers[0]
    return ""


def _counted(record: CostRecord) -> CostRecord:
    # Web-search rows stored before web_search_calls existed counted the
    # searches in `requests`; they are priced as what they are.
    if record.line_item == "web_search" and record.requests and not record.web_search_calls:
        return record.replace(web_search_calls=record.requests, requests=0)
    return record


def repriced(record: CostRecord, table: PriceTable) -> tuple[CostRecord, str]:
    """*record* priced with *table* (same key), and why it is unpriced (``""``
    when it is not)."""
    tier = pricing_tier(record)
    day = record.start.date()
    rate = table.rate(record.provider, record.model, day, tier)
    reason = ""
    cost = None
    if rate is None:
        reason = table.unpriced_reason(record.provider, record.model, day, tier)
    elif any(getattr(record, name) for name in _NEVER_PRICED):
        reason = "no price for " + ", ".join(n for n in _NEVER_PRICED if getattr(record, n))
    else:
        counted = _counted(record)
        cost = rate.cost_of(counted)
        if cost is None:
            reason = f"no price for {rate.missing(counted)} of {record.model}"
    if rate is None or cost is None:
        new = record.replace(
            cost_source=CostSource.UNPRICED, cost_usd=Decimal(0), price_source=PriceSource("")
        )
        return new, reason
    new = record.replace(
        cost_source=CostSource.ESTIMATED, cost_usd=cost, price_source=PriceSource(rate.source)
    )
    return new, ""


def _nanos(value: Decimal) -> int:
    # Stores keep money to the nanodollar (InfluxDB reads back nothing finer).
    return int(value.scaleb(9).to_integral_value(ROUND_HALF_EVEN))


def _changed(old: CostRecord, new: CostRecord) -> bool:
    return (
        old.cost_source != new.cost_source
        or old.price_source != new.price_source
        or _nanos(old.cost_usd) != _nanos(new.cost_usd)
    )


@dataclass(slots=True)
class RepriceResult:
    """What one store's reprice read, changed and left unpriced."""

    store: str
    rows: int = 0
    changed: int = 0
    before: Decimal = Decimal(0)
    after: Decimal = Decimal(0)
    unpriced_before: int = 0
    unpriced_after: int = 0
    models: set[tuple[str, str]] = field(default_factory=set)
    #: (model, rows changed, dollars before, dollars after) per changed model.
    by_model: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    #: Every (provider, account, UTC day) with a changed row: what to derive again.
    touched: set[tuple[str, str, date]] = field(default_factory=set)

    def add(self, old: CostRecord, new: CostRecord, changed: bool) -> None:
        self.rows += 1
        self.models.add((old.provider, old.model))
        self.before += old.cost_usd
        self.after += new.cost_usd
        self.unpriced_before += old.cost_source is CostSource.UNPRICED
        self.unpriced_after += new.cost_source is CostSource.UNPRICED
        if changed:
            self.changed += 1
            entry = self.by_model.setdefault((old.provider, old.model), [0, Decimal(0), Decimal(0)])
            entry[0] += 1
            entry[1] += old.cost_usd
            entry[2] += new.cost_usd
            self.touched.add((old.provider, old.account, old.start.date()))


def _days(window: Window) -> list[Window]:
    first = datetime.combine(window.start.date(), time(), UTC)
    pieces = []
    while first < window.end:
        pieces.append(Window(max(first, window.start), min(first + _DAY, window.end)))
        first += _DAY
    return pieces


async def reprice_store(
    store: RowStore,
    sink: Sink[Any],
    table: PriceTable,
    window: Window,
    providers: Sequence[str] = REPRICED,
    *,
    progress: Callable[[int, int, RepriceResult], None] | None = None,
) -> RepriceResult:
    """Reprice the estimated rows of *providers* in *window* read from *store*,
    writing the changed ones to *sink* (the same store), one UTC day at a time.

    Raises what the store or the sink raises; the days before stay written
    (a second run finishes the job). Each unpriced (provider, model, tier) is
    logged once, with the table's reason.
    """
    result = RepriceResult(store=getattr(sink, "instance", "store"))
    reported: set[tuple[str, str, str]] = set()
    days = _days(window)
    for done, day in enumerate(days, start=1):
        for provider in providers:
            query = CostQuery(day.start, day.end, Basis.ESTIMATED, {"provider": (provider,)})
            changed: list[CostRecord] = []
            for old in await store.stored_rows(query):
                if old.provider not in REPRICED:
                    continue
                new, reason = repriced(old, table)
                different = _changed(old, new)
                result.add(old, new, different)
                if different:
                    changed.append(new)
                if reason and (old.provider, old.model, pricing_tier(old)) not in reported:
                    reported.add((old.provider, old.model, pricing_tier(old)))
                    _log.warning(
                        "model_unpriced",
                        provider=old.provider,
                        model=old.model or "(none)",
                        tier=pricing_tier(old) or "standard",
                        reason=reason,
                        prices=table.version,
                    )
            if changed:
                await sink.write(changed)
        if progress is not None:
            progress(done, len(days), result)
    return result


async def after_reprice(
    settings: Settings, store: RowStore, sink: Sink[Any], result: RepriceResult
) -> None:
    """Called once per store after its reprice, while it is open: where work
    derived from the estimates runs again for exactly the (provider, account,
    UTC day) whose estimates changed (``result.touched``): their bills are
    allocated again over the new estimates (:func:`costpipe.allocation.reallocate`,
    from this store's rows to this store); a reprice that changed nothing
    touches nothing."""
    del settings
    days = {day for _, _, day in result.touched}
    if days:
        run = await reallocate(store, [sink], days)
        _log.info("reallocated", store=result.store, days=len(run.days), written=run.written)


def _progress_line(out: TextIO, store: str) -> Callable[[int, int, RepriceResult], None]:
    def draw(done: int, total: int, result: RepriceResult) -> None:
        # A progress line on a terminal only: a log or a pipe gets the summary.
        out.write(
            f"\r\x1b[2K{store}: day {done}/{total}, {result.rows} rows read,"
            f" {result.changed} changed"
        )
        out.flush()

    return draw


def _summary(result: RepriceResult, window: Window, table: PriceTable) -> list[str]:
    lines = [
        f"{result.store}: {result.rows} estimated rows of {len(result.models)} models"
        f" from {window.start.isoformat()} to {window.end.isoformat()} ({table.version}),"
        f" {result.changed} changed",
        f"  before: ${result.before:.2f} estimated, {result.unpriced_before} rows unpriced",
        f"  after:  ${result.after:.2f} estimated, {result.unpriced_after} rows unpriced",
    ]
    for (provider, model), (rows, before, after) in sorted(result.by_model.items()):
        lines.append(
            f"  {provider} {model or '(none)'}: {rows} rows, ${before:.2f} -> ${after:.2f}"
        )
    return lines


async def _reprice(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from costpipe.engine.runtime import build_component

    until = args.until or datetime.now(UTC)
    if until <= args.since:
        raise ConfigError("--until", "must be later than --since")
    window = Window(args.since, until)
    providers = tuple(dict.fromkeys(args.provider or REPRICED))
    table = PriceTable.bundled().with_overrides(settings.prices)
    failed = False
    readable = 0
    for spec in settings.sinks:
        sink = build_component(settings, spec)
        assert isinstance(sink, Sink)  # a [[sinks.*]] table builds a sink
        sink.context.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            await sink.start()
            reader = sink.reader()
            if not isinstance(reader, RowStore):
                continue
            readable += 1
            draw = _progress_line(out, spec.instance) if out.isatty() else None
            result = await reprice_store(reader, sink, table, window, providers, progress=draw)
            await after_reprice(settings, reader, sink, result)
        except CostpipeError as exc:
            failed = True
            out.write(("\n" if out.isatty() else "") + f"{spec.instance}: failed: {exc}\n")
            continue
        finally:
            await sink.close()
        if out.isatty():
            out.write("\n")
        result.store = spec.instance
        out.write("\n".join(_summary(result, window, table)) + "\n")
    if not readable and not failed:
        raise ConfigError("sinks", "no configured sink can be read; reprice needs one")
    return 1 if failed else 0


def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Exit 0 when every readable store was repriced, 1 when a store failed
    (what was written stays; run again), 2 for a bad range or no readable store."""
    import asyncio

    return asyncio.run(_reprice(args, settings, out))
