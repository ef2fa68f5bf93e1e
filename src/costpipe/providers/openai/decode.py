"""Pure decoding of OpenAI Costs and Usage pages: bytes in, records out.

:func:`decode` reads one page of an :class:`~costpipe.providers.bucketed.Endpoint` into
:mod:`~costpipe.providers.openai.schema` Structs (msgspec, exact Decimal money,
strict integer counts) and turns each row of each bucket inside the requested
span into a :class:`~costpipe.records.CostRecord`; a page that does not match
the spec raises :class:`~costpipe.providers.typed_json.PageMalformed` naming
the JSON path of the bad value (``$.data[0].results[3].input_tokens: ...``).
No IO: the price table and the account come in a :class:`~costpipe.providers.bucketed.Scope`.

Token mapping (the double-count trap): OpenAI's ``input_tokens`` *includes*
cached and cache-write tokens. costpipe's disjoint ``uncached_input_tokens``
is ``input_uncached_tokens`` when the server sends it, else
``input_tokens - input_cached_tokens - input_cache_write_tokens``.

Adding an endpoint: a row Struct in ``schema``, a ``<name>_record(row, at)``
function here, one :data:`ENDPOINTS` entry (path, ``group_by``, the decoder
of ``Page[<row Struct>]``, the function). The planner requests every entry,
and the golden cases in ``tests/providers/cases/openai/<endpoint>/`` pin it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec

from costpipe.providers.bucketed import At, Endpoint, RowError, Scope, decode_buckets
from costpipe.providers.openai.schema import Bucket, CompletionsRow, CostRow, EmbeddingsRow, Page
from costpipe.providers.planning import DecodedPage
from costpipe.records import CostRecord, CostSource

__all__ = ["COSTS", "ENDPOINTS", "decode", "model_from_line_item"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)
_MODEL_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


def decode(endpoint: Endpoint[Any], scope: Scope, body: bytes) -> DecodedPage:
    """The records of one page of *endpoint* (merged by key) and its cursor;
    PageMalformed, with the JSON path, when the page does not match the spec."""
    return decode_buckets(endpoint, _bounds, "end_time", scope, body)


def _bounds(bucket: Bucket[Any]) -> tuple[datetime, datetime]:
    return (
        _EPOCH + timedelta(seconds=bucket.start_time),
        _EPOCH + timedelta(seconds=bucket.end_time),
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


def cost_record(row: CostRow, at: At) -> CostRecord | None:
    """A billed record; ``None`` when nothing was charged for the group."""
    amount = row.amount
    if amount is None or amount.value is None:
        return None
    line_item = row.line_item or ""
    return CostRecord(
        start=at.start,
        width=at.width,
        provider="openai",
        account=at.account,
        cost_source=CostSource.BILLED,
        cost_usd=amount.value,
        model=model_from_line_item(line_item),
        project_id=row.project_id or "",
        api_key_id=row.api_key_id or "",
        line_item=line_item,
    )


@lru_cache(maxsize=256)  # bounded: a server inventing tiers costs nothing
def usage_line_item(endpoint: str, batch: bool, service_tier: str) -> tuple[str, str]:
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


def completions_record(row: CompletionsRow, at: At) -> CostRecord:
    """An estimated (or unpriced) record of one completions usage row."""
    cached = row.input_cached_tokens or 0
    cache_write = row.input_cache_write_tokens or 0
    uncached = row.input_uncached_tokens
    if uncached is None:
        uncached = row.input_tokens - cached - cache_write
        if uncached < 0:
            raise RowError(
                "input_tokens",
                f"input_tokens {row.input_tokens} < cached {cached} + cache writes {cache_write}",
            )
    model = row.model or ""
    line_item, tier = usage_line_item("completions", row.batch is True, row.service_tier or "")
    output = row.output_tokens
    rate = at.rate(model, tier)
    if rate is None:
        cost, source = _ZERO, CostSource.UNPRICED
    else:
        cost, source = rate.cost(uncached, cached, cache_write, 0, output), CostSource.ESTIMATED
    return CostRecord(
        start=at.start,
        width=at.width,
        provider="openai",
        account=at.account,
        cost_source=source,
        cost_usd=cost,
        model=model,
        user_id=row.user_id or "",
        project_id=row.project_id or "",
        api_key_id=row.api_key_id or "",
        line_item=line_item,
        uncached_input_tokens=uncached,
        cached_input_tokens=cached,
        cache_write_tokens=cache_write,
        output_tokens=output,
        requests=row.num_model_requests,
    )


def embeddings_record(row: EmbeddingsRow, at: At) -> CostRecord:
    """Embeddings are uncached input only."""
    model = row.model or ""
    rate = at.rate(model)
    if rate is None:
        cost, source = _ZERO, CostSource.UNPRICED
    else:
        cost, source = rate.cost(row.input_tokens), CostSource.ESTIMATED
    return CostRecord(
        start=at.start,
        width=at.width,
        provider="openai",
        account=at.account,
        cost_source=source,
        cost_usd=cost,
        model=model,
        user_id=row.user_id or "",
        project_id=row.project_id or "",
        api_key_id=row.api_key_id or "",
        line_item="embeddings",
        uncached_input_tokens=row.input_tokens,
        requests=row.num_model_requests,
    )


#: The cost endpoint (always daily); ``api_key_id`` is dropped from its
#: ``group_by`` when the config says so.
COSTS: Endpoint[CostRow] = Endpoint(
    "/organization/costs",
    ("project_id", "line_item", "api_key_id"),
    msgspec.json.Decoder(Page[CostRow]),
    cost_record,
)
#: The usage endpoints costpipe reads, by name (the name starts their line items).
ENDPOINTS: dict[str, Endpoint[Any]] = {
    "completions": Endpoint(
        "/organization/usage/completions",
        ("model", "project_id", "user_id", "api_key_id", "batch", "service_tier"),
        msgspec.json.Decoder(Page[CompletionsRow]),
        completions_record,
    ),
    "embeddings": Endpoint(
        "/organization/usage/embeddings",
        ("model", "project_id", "user_id", "api_key_id"),
        msgspec.json.Decoder(Page[EmbeddingsRow]),
        embeddings_record,
    ),
}
