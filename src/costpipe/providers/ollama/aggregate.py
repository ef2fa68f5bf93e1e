"""Hourly records from journal events, priced at the internal rates.

One record per (hour, model, user, project, token hash, route): the record key
is deterministic, so fetching an hour again, after a restart too, upserts the
same rows instead of adding to them. Requests whose answer carried no token
counts get their own line item (``<route>:uncounted``) so they are never read
as zero-token usage.

Cost, in this order:

1. a ``[[prices]]`` entry (``provider = "ollama"``) for the model, per token;
2. else ``gpu_hour_usd`` times the hour's summed ``total_duration``;
3. else ``unpriced``: tokens kept, cost unknown (never $0 as if free).

Priced rows are ``estimated`` and carry the rate they used in the ``rate`` tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal

from costpipe.pricing.costs import COST_QUANTUM
from costpipe.pricing.prices import PriceTable, TokenUsage
from costpipe.providers.ollama.journal import UsageEvent
from costpipe.records import CostRecord, CostSource

__all__ = ["PROVIDER", "gpu_cost", "hour_records", "model_key"]

PROVIDER = "ollama"
_HOUR = timedelta(hours=1)
_NS_PER_HOUR = Decimal(3_600_000_000_000)
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)


def model_key(model: str) -> str:
    """Ollama's own default: a model name without a tag means ``:latest``."""
    if not model:
        return ""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def gpu_cost(duration_ns: int, gpu_hour_usd: Decimal) -> Decimal:
    """USD for *duration_ns* of GPU time at *gpu_hour_usd*, quantized like token costs."""
    hours = _CONTEXT.divide(Decimal(duration_ns), _NS_PER_HOUR)
    return _CONTEXT.multiply(hours, gpu_hour_usd).quantize(COST_QUANTUM, context=_CONTEXT)


class _Sums:
    __slots__ = ("duration", "input", "output", "requests")

    def __init__(self) -> None:
        self.input = self.output = self.duration = self.requests = 0


def hour_records(
    hour: datetime,
    events: Iterable[UsageEvent],
    *,
    account: str,
    prices: PriceTable,
    gpu_hour_usd: Decimal | None,
) -> list[CostRecord]:
    """The records of one UTC hour's events."""
    groups: dict[tuple[str, str, str, str, str], _Sums] = {}
    for event in events:
        line_item = event.route if event.counted else f"{event.route}:uncounted"
        key = (model_key(event.model), event.user, event.project, event.api_key_id, line_item)
        sums = groups.get(key)
        if sums is None:
            sums = groups[key] = _Sums()
        sums.requests += 1
        sums.input += event.input_tokens
        sums.output += event.output_tokens
        sums.duration += event.duration_ns
    records = []
    for (model, user, project, api_key_id, line_item), sums in groups.items():
        cost, source, rate = _price(
            prices, model, hour, sums, gpu_hour_usd, counted=not line_item.endswith(":uncounted")
        )
        records.append(
            CostRecord(
                start=hour,
                width=_HOUR,
                provider=PROVIDER,
                account=account,
                cost_source=source,
                cost_usd=cost,
                model=model,
                user_id=user,
                project_id=project,
                api_key_id=api_key_id,
                line_item=line_item,
                uncached_input_tokens=sums.input,
                output_tokens=sums.output,
                requests=sums.requests,
                tags=(("rate", rate),) if rate else (),
            )
        )
    return records


def _price(
    prices: PriceTable,
    model: str,
    hour: datetime,
    sums: _Sums,
    gpu_hour_usd: Decimal | None,
    *,
    counted: bool,
) -> tuple[Decimal, CostSource, str]:
    if not counted:
        # Neither tokens nor durations are known: any figure would be a guess.
        return Decimal(0), CostSource.UNPRICED, ""
    for name in dict.fromkeys((model, model.removesuffix(":latest"))):
        price = prices.lookup(PROVIDER, name, hour.date()) if name else None
        usage = TokenUsage(uncached_input=sums.input, output=sums.output)
        cost = prices.cost(PROVIDER, name, hour.date(), usage) if price is not None else None
        if price is not None and cost is not None:
            label = f"per_million_tokens:input={price.input},output={price.output}"
            return cost, CostSource.ESTIMATED, label
    if gpu_hour_usd is not None and sums.duration > 0:
        label = f"gpu_hour_usd={gpu_hour_usd}"
        return gpu_cost(sums.duration, gpu_hour_usd), CostSource.ESTIMATED, label
    return Decimal(0), CostSource.UNPRICED, ""
