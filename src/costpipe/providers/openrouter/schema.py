"""The wire schema of OpenRouter's ``/api/v1/activity`` and ``/api/v1/credits``.

Sources: OpenRouter's OpenAPI specification (operation ``getUserActivity``,
schemas ``ActivityResponse`` / ``ActivityItem``; operation ``getCredits``,
schema ``GetCreditsData``), as published with the ``@openrouter/sdk``
TypeScript SDK (OpenRouterTeam/typescript-sdk) and in the API reference
(openrouter.ai/docs/api/api-reference/analytics, .../credits).

``ActivityItem`` lists every field as required: ``date`` (string,
``YYYY-MM-DD``), ``model``, ``model_permaslug``, ``endpoint_id``,
``provider_name`` (strings), ``usage`` and ``byok_usage_inference`` (numbers,
USD), ``requests``, ``prompt_tokens``, ``completion_tokens``,
``reasoning_tokens`` (integers: ``int64`` in the Go SDK, ``int`` in the Python
one); ``workspace_id`` (string) "Only present when ``group_by=workspace`` is
passed; the response is then split per workspace" (``ActivityItem`` in
``.speakeasy/in.openapi.yaml`` of OpenRouterTeam/typescript-sdk commit
cb9393a8, line 97), which costpipe always passes.
``GetCreditsData`` has ``total_credits`` and ``total_usage`` (numbers, USD).

Per-field decisions:

* Money (``usage``, ``byok_usage_inference``, ``total_credits``,
  ``total_usage``) is exact: Decimal from the JSON text, never a float.
  ``usage`` and the credit totals must be there (as the old reader required);
  ``byok_usage_inference`` may be missing or null (it is only read with
  ``include_byok``). NaN, infinities, booleans and more than $1e9 refuse
  the page.
* Counts are JSON integers; null or missing is 0, as the old reader read
  them. ``5.0`` or ``"5"`` (accepted by the old reader) cannot come from the
  documented API: the page is set aside with the field's path in the log.
* ``date`` is the day of its first ten characters, as the old reader read it
  (a ``YYYY-MM-DD`` string per the spec; a timestamp starting with the day is
  accepted too). An impossible day refuses the page.
* Text fields are strings or null (``reasoning_tokens`` and
  ``model_permaslug`` are not read). A number where the spec says string was
  turned into text by the old reader; it is refused now, with the path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec

from costpipe.providers.typed_json import Count, FieldError, check_amount

__all__ = ["ActivityItem", "ActivityResponse", "Credits", "CreditsResponse"]


class ActivityItem(msgspec.Struct, frozen=True, gc=False):
    """One (UTC day, model, endpoint) row of ``/activity``."""

    date: str
    usage: Decimal
    model: str | None = None
    endpoint_id: str | None = None
    provider_name: str | None = None
    workspace_id: str | None = None
    byok_usage_inference: Decimal | None = None
    requests: Count | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None

    def __post_init__(self) -> None:
        check_amount(self.usage, "usage")
        if self.byok_usage_inference is not None:
            check_amount(self.byok_usage_inference, "byok_usage_inference")
        try:
            date.fromisoformat(self.date[:10])
        except ValueError:
            raise FieldError("date", f"{self.date[:40]!r} is not YYYY-MM-DD") from None

    @property
    def day(self) -> datetime:
        """Midnight UTC of :attr:`date` (checked when decoded)."""
        day = date.fromisoformat(self.date[:10])
        return datetime(day.year, day.month, day.day, tzinfo=UTC)


class ActivityResponse(msgspec.Struct, frozen=True):
    """``GET /activity``: no pagination, every row of the asked days."""

    data: list[ActivityItem]


class Credits(msgspec.Struct, frozen=True):
    total_credits: Decimal
    total_usage: Decimal

    def __post_init__(self) -> None:
        check_amount(self.total_credits, "total_credits")
        check_amount(self.total_usage, "total_usage")


class CreditsResponse(msgspec.Struct, frozen=True):
    """``GET /credits``."""

    data: Credits
