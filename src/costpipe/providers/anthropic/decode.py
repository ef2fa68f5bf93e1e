"""Pure decoding of Anthropic usage and cost report pages: bytes in, records out.

:func:`decode` reads one page into :mod:`~costpipe.providers.anthropic.schema`
Structs and turns each row of each bucket inside the requested span into a
:class:`~costpipe.records.CostRecord`, or raises
:class:`~costpipe.providers.typed_json.PageMalformed` naming the JSON path of
the bad value. No IO: the prices and the account come in a
:class:`~costpipe.providers.bucketed.Scope`.

* Usage rows -> ``estimated`` (or ``unpriced``). Anthropic's token categories
  are already disjoint: ``uncached_input_tokens`` -> uncached,
  ``cache_read_input_tokens`` -> cached, ``cache_creation.ephemeral_5m_input_tokens
  + ephemeral_1h_input_tokens`` -> cache writes (priced separately: 1-hour
  writes cost more). The line item is ``messages`` plus a non-standard tier.
* Cost rows -> ``billed``: dollars are ``Decimal(amount) / 100``, exactly;
  the line item is the description (else the cost type) plus every
  non-default qualifier that splits one description into several rows.
* The default workspace (``workspace_id: null``) is project ``default``.

Adding a usage endpoint: a row Struct in ``schema``, a record function here and
an :class:`~costpipe.providers.bucketed.Endpoint` in :data:`USAGE_ENDPOINTS`
(the planner requests each); golden cases go in
``tests/providers/cases/anthropic/<endpoint>/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from costpipe.providers.anthropic.schema import Bucket, CostRow, Page, UsageRow
from costpipe.providers.bucketed import At, Endpoint, Scope, decode_buckets
from costpipe.providers.planning import DecodedPage
from costpipe.records import CostRecord, CostSource

__all__ = ["COSTS", "DEFAULT_WORKSPACE", "USAGE", "USAGE_ENDPOINTS", "decode"]

DEFAULT_WORKSPACE = "default"
_CENTS = Decimal(100)
_ZERO = Decimal(0)

# Cost-row fields that split one description into several priced rows; a
# non-default value is folded into `line_item` so each row keeps its own key.
_COST_QUALIFIERS = (
    ("service_tier", {"standard"}),
    ("context_window", {"0-200k"}),
    ("inference_geo", {"global", "not_available"}),
    ("speed", {"standard"}),
)


def decode(endpoint: Endpoint[Any], scope: Scope, body: bytes) -> DecodedPage:
    """The records of one page of *endpoint* (merged by key) and its cursor;
    PageMalformed, with the JSON path, when the page does not match the docs."""
    return decode_buckets(endpoint, _bounds, "ending_at", scope, body)


def _bounds(bucket: Bucket[Any]) -> tuple[datetime, datetime]:
    start, end = bucket.starting_at, bucket.ending_at
    # msgspec gives datetime.UTC for "Z"; any other offset is converted.
    if start.tzinfo is not UTC:
        start = start.astimezone(UTC)
    if end.tzinfo is not UTC:
        end = end.astimezone(UTC)
    return start, end


def usage_record(row: UsageRow, at: At) -> CostRecord:
    """An estimated (or unpriced) record of one messages usage row."""
    creation = row.cache_creation
    if creation is None:
        write_5m = write_1h = 0
    else:
        write_5m = creation.ephemeral_5m_input_tokens or 0
        write_1h = creation.ephemeral_1h_input_tokens or 0
    cached = row.cache_read_input_tokens or 0
    model = row.model or ""
    tier = row.service_tier or ""
    rate = at.rate(model, tier)
    if rate is None:
        cost, source = _ZERO, CostSource.UNPRICED
    else:
        cost = rate.cost(row.uncached_input_tokens, cached, write_5m, write_1h, row.output_tokens)
        source = CostSource.ESTIMATED
    return CostRecord(
        start=at.start,
        width=at.width,
        provider="anthropic",
        account=at.account,
        cost_source=source,
        cost_usd=cost,
        model=model,
        project_id=row.workspace_id or DEFAULT_WORKSPACE,
        api_key_id=row.api_key_id or "",
        line_item="messages" if tier in ("", "standard") else f"messages, {tier}",
        uncached_input_tokens=row.uncached_input_tokens,
        cached_input_tokens=cached,
        cache_write_tokens=write_5m + write_1h,
        output_tokens=row.output_tokens,
    )


def cost_record(row: CostRow, at: At) -> CostRecord | None:
    """A billed record; ``None`` for a row without an amount."""
    if row.amount is None:
        return None
    description = row.description or row.cost_type or ""
    qualifiers = [
        value
        for key, defaults in _COST_QUALIFIERS
        if (value := getattr(row, key)) and value not in defaults
    ]
    return CostRecord(
        start=at.start,
        width=at.width,
        provider="anthropic",
        account=at.account,
        cost_source=CostSource.BILLED,
        cost_usd=row.amount / _CENTS,
        model=row.model or "",
        project_id=row.workspace_id or DEFAULT_WORKSPACE,
        line_item=", ".join([description, *qualifiers]),
    )


#: ``GET /v1/organizations/usage_report/messages``.
USAGE: Endpoint[UsageRow] = Endpoint(
    "/v1/organizations/usage_report/messages",
    ("model", "workspace_id", "api_key_id", "service_tier"),
    msgspec.json.Decoder(Page[UsageRow]),
    usage_record,
)
#: ``GET /v1/organizations/cost_report`` (daily).
COSTS: Endpoint[CostRow] = Endpoint(
    "/v1/organizations/cost_report",
    ("workspace_id", "description"),
    msgspec.json.Decoder(Page[CostRow]),
    cost_record,
)

#: The usage endpoints costpipe reads (each with the configured bucket width).
USAGE_ENDPOINTS: tuple[Endpoint[Any], ...] = (USAGE,)
