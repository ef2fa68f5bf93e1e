"""Pure decoding of Anthropic usage and cost report pages: bytes in, records out.

:func:`decode` reads one page into :mod:`~costpipe.providers.anthropic.schema`
Structs and turns each row of each bucket inside the requested span into a
:class:`~costpipe.records.CostRecord`, or raises
:class:`~costpipe.providers.typed_json.PageMalformed` naming the JSON path of
the bad value. No IO: the prices and the account come in a
:class:`~costpipe.providers.bucketed.Scope`.

* Usage rows -> ``estimated`` (or ``unpriced``). Anthropic's token categories
  are already disjoint: ``uncached_input_tokens`` -> uncached,
  ``cache_read_input_tokens`` -> cached, ``cache_creation.ephemeral_5m_input_tokens``
  -> ``cache_write_tokens`` and ``ephemeral_1h_input_tokens`` ->
  ``cache_write_1h_tokens`` (apart: 1-hour writes cost more, and a reprice
  must still tell them apart). The line item is ``messages`` plus a
  non-standard service tier and a non-default context window
  (``messages, 200k-1M``, ``messages, batch, 200k-1M``), so long-context rows
  keep their own key and are priced at the long-context rate (see
  :func:`pricing_tier`), or ``unpriced`` when the price data has none, never
  at the standard one.
* ``server_tool_use.web_search_requests`` > 0 adds a second record for the
  row: line item ``web_search``, ``web_search_calls`` = the count, priced
  at the model's web-search price when the price data has one (else
  ``unpriced``; the billed cost report carries the money: "Web Search Usage").
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

from costpipe.providers.anthropic.schema import (
    Bucket,
    CacheCreation,
    CostRow,
    Page,
    ServerToolUse,
    UsageRow,
)
from costpipe.providers.bucketed import At, Endpoint, Scope, decode_buckets
from costpipe.providers.planning import DecodedPage
from costpipe.providers.usage_rows import TextRows
from costpipe.records import CostRecord, CostSource, PriceSource

__all__ = [
    "COSTS",
    "DEFAULT_WORKSPACE",
    "LONG_CONTEXT",
    "LONG_CONTEXT_TIER",
    "USAGE",
    "USAGE_ENDPOINTS",
    "WEB_SEARCH",
    "decode",
    "pricing_tier",
    "usage_line_item",
]

DEFAULT_WORKSPACE = "default"
#: The usage report's ``context_window`` values: "0-200k" is the default window,
#: "200k-1M" the long-context one (requests with more than 200k input tokens).
DEFAULT_CONTEXT = "0-200k"
LONG_CONTEXT = "200k-1M"
#: Suffix of the price-table tier asked for long-context rows.
LONG_CONTEXT_TIER = "@" + LONG_CONTEXT
#: Line item of the web-search request records (the server tool's name).
WEB_SEARCH = "web_search"
_CENTS = Decimal(100)
_ZERO = Decimal(0)
_NO_SOURCE = PriceSource("")

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


def pricing_tier(service_tier: str, context_window: str) -> str:
    """The tier the price table is asked for: the service tier, with
    ``@200k-1M`` appended for long-context rows, so that the table answers with
    the long-context rate, or "unpriced" when it has none, never the standard rate."""
    if context_window == LONG_CONTEXT:
        return (service_tier or "standard") + LONG_CONTEXT_TIER
    return service_tier


def usage_line_item(service_tier: str | None, context_window: str | None) -> tuple[str, str]:
    """``(line_item, pricing tier)`` of a messages usage row: ``messages`` plus
    each non-default qualifier, and the tier the price table is asked for."""
    tier = service_tier or ""
    window = context_window or ""
    qualifiers = [
        value for value, default in ((tier, "standard"), (window, DEFAULT_CONTEXT))
        if value and value != default
    ]  # fmt: skip
    return ", ".join(["messages", *qualifiers]), pricing_tier(tier, window)


def usage_record(row: UsageRow, at: At) -> CostRecord | tuple[CostRecord, ...]:
    """An estimated (or unpriced) record of one messages usage row, and an
    unpriced ``web_search`` record when the row made web-search requests."""
    creation = row.cache_creation
    if creation is None:
        write_5m = write_1h = 0
    else:
        write_5m = creation.ephemeral_5m_input_tokens or 0
        write_1h = creation.ephemeral_1h_input_tokens or 0
    cached = row.cache_read_input_tokens or 0
    model = row.model or ""
    line_item, tier = usage_line_item(row.service_tier, row.context_window)
    rate = at.rate(model, tier)
    cost = (
        None
        if rate is None
        else rate.cost(row.uncached_input_tokens, cached, write_5m, write_1h, row.output_tokens)
    )
    if rate is None or cost is None:
        cost, source, price_source = _ZERO, CostSource.UNPRICED, _NO_SOURCE
    else:
        source, price_source = CostSource.ESTIMATED, PriceSource(rate.source)
    project = row.workspace_id or DEFAULT_WORKSPACE
    api_key = row.api_key_id or ""
    tokens = at.record(
        "anthropic",
        source,
        cost,
        price_source,
        # No user_id: the Usage API has none.
        (model, "", project, api_key, line_item),
        # No request count: the Usage API does not count them.
        (row.uncached_input_tokens, cached, write_5m, write_1h, row.output_tokens, 0),
    )
    tools = row.server_tool_use
    searches = 0 if tools is None else tools.web_search_requests or 0
    if not searches:
        return tokens
    # A row of its own (line item web_search): its money is not the tokens'.
    # A search costs the same in every tier and context window (the rows of all
    # of them share the one web_search record): priced at the standard rate.
    search_rate = at.rate(model)
    search_cost = (
        None if search_rate is None else search_rate.cost_counts({"web_search_calls": searches})
    )
    if search_rate is None or search_cost is None:
        search_cost, search_source, search_price = _ZERO, CostSource.UNPRICED, _NO_SOURCE
    else:
        search_source, search_price = CostSource.ESTIMATED, PriceSource(search_rate.source)
    web_search = CostRecord(
        start=at.start,
        width=at.width,
        provider="anthropic",
        account=at.account,
        cost_source=search_source,
        cost_usd=search_cost,
        model=model,
        project_id=project,
        api_key_id=api_key,
        line_item=WEB_SEARCH,
        web_search_calls=searches,
        price_source=search_price,
    )
    return tokens, web_search


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


_CACHE_WRITES = "cache_creation", CacheCreation
#: A messages row without web searches, for the C builder
#: (:mod:`costpipe.providers.usage_rows`): what :func:`usage_record` reads.
USAGE_TEXT = TextRows(
    UsageRow,
    "anthropic",
    ("model", None, "workspace_id", "api_key_id"),
    ("service_tier", "context_window"),
    usage_line_item,
    (
        "uncached_input_tokens",
        "cache_read_input_tokens",
        (*_CACHE_WRITES, "ephemeral_5m_input_tokens"),
        (*_CACHE_WRITES, "ephemeral_1h_input_tokens"),
        "output_tokens",
        None,
    ),
    guards=(("server_tool_use", ServerToolUse, "web_search_requests"),),
    defaults=("", "", DEFAULT_WORKSPACE, ""),
)
#: ``GET /v1/organizations/usage_report/messages``.
USAGE: Endpoint[UsageRow] = Endpoint(
    "/v1/organizations/usage_report/messages",
    ("model", "workspace_id", "api_key_id", "service_tier", "context_window"),
    msgspec.json.Decoder(Page[UsageRow]),
    usage_record,
    USAGE_TEXT,
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
