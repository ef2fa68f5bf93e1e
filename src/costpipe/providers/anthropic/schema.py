"""msgspec Structs that mirror Anthropic's Admin API usage and cost reports.

Sources (the Admin API reference, read 2026-12-01):

* ``GET /v1/organizations/usage_report/messages``,
  https://platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages:
  ``MessagesUsageReport {data, has_more, next_page}``; each bucket
  ``{starting_at, ending_at, results}`` (RFC 3339); each result
  ``{api_key_id, cache_creation {ephemeral_1h_input_tokens,
  ephemeral_5m_input_tokens}, cache_read_input_tokens, context_window, model,
  output_tokens, server_tool_use {web_search_requests}, service_tier,
  uncached_input_tokens, workspace_id}`` -> :class:`Page`,
  :class:`UsageRow`, :class:`CacheCreation`.
* ``GET /v1/organizations/cost_report``,
  https://platform.claude.com/docs/en/api/admin/cost_report: ``CostReport
  {data, has_more, next_page}``; each result ``{amount, context_window,
  cost_type, currency, description, inference_geo, model, service_tier,
  token_type, workspace_id}``, ``amount`` being "cost amount in lowest
  currency units (e.g. cents) as a decimal string" -> :class:`Page`,
  :class:`CostRow`.

Per-field decisions, against the docs:

* Token counts are integers from 0 to 2**63-1 (``5.0`` or ``"5"`` reject the
  page). ``uncached_input_tokens`` and ``output_tokens`` are required; the
  cache counts (and ``cache_creation`` itself) may be missing or ``null`` on
  older answers and then count as 0, as does a missing or ``null``
  ``server_tool_use`` / ``web_search_requests`` (same integer rule).
* ``context_window`` is kept as text (``0-200k``, ``200k-1M``, or a value a
  later API version adds) so that a new window is never merged into another.
* ``amount`` is a decimal string in cents, decoded straight to
  :class:`~decimal.Decimal` with its exact text (a JSON number is accepted
  too, exactly); NaN, infinities and amounts past 10**9 reject the page; a
  ``null`` amount is a row without money. ``currency`` must be ``USD``.
* Bucket bounds are RFC 3339 with an offset (a naive or impossible time, e.g.
  February 30th, rejects the page); ``has_more`` is required; ``results:
  null`` is an empty bucket. Dimensions are ``string | null``. Fields costpipe
  does not read are skipped without being materialized.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

import msgspec

from costpipe.providers.typed_json import Count, FieldError, check_amount

__all__ = ["Bucket", "CacheCreation", "CostRow", "Moment", "Page", "ServerToolUse", "UsageRow"]

#: An RFC 3339 time with its UTC offset.
Moment = Annotated[datetime, msgspec.Meta(tz=True)]

RowT = TypeVar("RowT")


class Bucket(msgspec.Struct, Generic[RowT], kw_only=True, gc=False):
    """One time bucket of either report."""

    starting_at: Moment
    ending_at: Moment
    results: list[RowT] | None = None


class CacheCreation(msgspec.Struct, kw_only=True, gc=False):
    """``cache_creation``: prompt-cache writes by lifetime (priced differently)."""

    ephemeral_5m_input_tokens: Count | None = None
    ephemeral_1h_input_tokens: Count | None = None


class ServerToolUse(msgspec.Struct, kw_only=True, gc=False):
    """``server_tool_use``: server-side tool use of the row; the reference's
    example has ``{"web_search_requests": 10}``, the only field documented."""

    web_search_requests: Count | None = None


class UsageRow(msgspec.Struct, kw_only=True, gc=False):
    """One result of the messages usage report.

    ``context_window`` takes the values the reference lists for the
    ``context_window[]`` filter ("Restrict usage returned to the specified
    context window(s)": ``0-200k``, ``200k-1M``); it is filled when the request
    has ``group_by[]=context_window`` ("Group by any subset of the available
    options") and ``null`` otherwise, like every dimension not grouped by."""

    uncached_input_tokens: Count
    output_tokens: Count
    cache_read_input_tokens: Count | None = None
    cache_creation: CacheCreation | None = None
    server_tool_use: ServerToolUse | None = None
    model: str | None = None
    workspace_id: str | None = None
    api_key_id: str | None = None
    service_tier: str | None = None
    context_window: str | None = None


class CostRow(msgspec.Struct, kw_only=True, gc=False):
    """One result of the cost report."""

    amount: Decimal | None = None
    currency: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    workspace_id: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    speed: str | None = None

    def __post_init__(self) -> None:
        if self.amount is not None:
            check_amount(self.amount, "amount")
        if self.currency is not None and self.currency.upper() != "USD":
            raise FieldError(
                "currency", f"amount in {self.currency[:20]!r}; costpipe records USD only"
            )


class Page(msgspec.Struct, Generic[RowT], kw_only=True, gc=False):
    """``MessagesUsageReport`` (``Page[UsageRow]``) and ``CostReport`` (``Page[CostRow]``)."""

    data: list[Bucket[RowT]]
    has_more: bool
    next_page: str | None = None
