"""The wire schema of LiteLLM's ``GET /spend/logs/v2``, as msgspec Structs.

Sources (BerriAI/litellm):

* the page envelope mirrors ``ui_view_spend_logs`` in
  ``litellm/proxy/spend_tracking/spend_management_endpoints.py`` (served as
  ``/spend/logs/ui`` and ``/spend/logs/v2``): ``{"data": [...], "total",
  "page", "page_size", "total_pages", "total_is_capped"}``, rows ordered
  ``"startTime" DESC``; ``total`` stops counting at
  ``SPEND_LOGS_PAGINATION_COUNT_CAP`` (10,000) and then says
  ``total_is_capped: true`` (older proxies omit the flag: ``false``);
* a row mirrors ``model LiteLLM_SpendLogs`` in ``schema.prisma`` (and
  ``LiteLLM_SpendLogs`` / ``SpendLogsPayload`` in ``litellm/proxy/_types.py``):
  ``request_id String @id``; ``spend Float @default(0.0)``; ``prompt_tokens``
  and ``completion_tokens Int @default(0)``; ``startTime DateTime``;
  ``api_key String @default("")`` (the sha256 of the virtual key);
  ``model String @default("")``; ``model_group``, ``custom_llm_provider``,
  ``user``, ``team_id`` ``String?``. Only the fields costpipe reads are
  declared; the others (``metadata``, ``messages``, ``response``...) are
  skipped unread.

Per-field decisions (the spec is the authority; where today's readers were
more lenient and the spec allows it, stay lenient):

* ``spend`` is exact: Decimal from the JSON text (Postgres keeps a double;
  FastAPI writes its shortest repr, which the text preserves). Missing is 0
  (the column's default); null, a boolean, NaN, an infinity or more than
  $1e9 on one request refuse the page.
* Counts are JSON integers (``Int`` columns); null or missing is 0, as before.
  ``5.0`` or ``"5"`` was accepted by the old reader but cannot come from the
  proxy: the page is set aside, with the path of the field in the log.
* Text dimensions are strings or null (``String?``). A number there was
  turned into text by the old reader; it cannot come from the proxy, and the
  page is set aside with the path in the log.
* ``startTime`` is RFC 3339; the proxy writes UTC, with or without an offset
  (an offset-less time is read as UTC, as before). An impossible date, or an
  offset that moves it out of the years 1-9999, refuses the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from costpipe.providers.typed_json import Count, FieldError, check_amount

__all__ = ["SpendLog", "SpendLogsPage"]

_ZERO = Decimal(0)


class SpendLog(msgspec.Struct, frozen=True, gc=False):
    """One ``LiteLLM_SpendLogs`` row, as far as costpipe reads it."""

    request_id: str
    start_time: datetime = msgspec.field(name="startTime")
    spend: Decimal = _ZERO
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    model: str | None = None
    model_group: str | None = None
    custom_llm_provider: str | None = None
    user: str | None = None
    team_id: str | None = None
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.request_id:
            raise FieldError("request_id", "is empty (rows are de-duplicated by it)")
        check_amount(self.spend, "spend")
        moment = self.start_time
        if moment.tzinfo is not UTC:
            # LiteLLM stores UTC; some versions serialize it without an offset.
            try:
                moment = (
                    moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
                )
            except OverflowError:
                raise FieldError("startTime", "is outside the years 1-9999 in UTC") from None
            msgspec.structs.force_setattr(self, "start_time", moment)


class SpendLogsPage(msgspec.Struct, frozen=True):
    """One answer of ``/spend/logs/v2``."""

    data: list[SpendLog]
    total_pages: Count = 1
    total: Count | None = None
    page: Count | None = None
    page_size: Count | None = None
    total_is_capped: bool = False
