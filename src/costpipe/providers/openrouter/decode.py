"""Pure decoding of OpenRouter pages into records.

:func:`decode_activity` and :func:`decode_credits` turn a page's bytes into
the typed rows of :mod:`costpipe.providers.openrouter.schema` (which says
what each field mirrors), or raise
:class:`~costpipe.providers.typed_json.PageMalformed` with the JSON path of
the bad field; :func:`activity_records` maps rows to records. No IO.

Mapping (one daily record per day, model and upstream provider):

* ``model`` is the OpenRouter slug (``openai/gpt-4.1``) and ``line_item`` the
  upstream ``provider_name`` (``OpenAI``, ``Amazon Bedrock``; the
  ``endpoint_id`` when the name is empty), so one model served by two
  upstreams gives two records with distinct keys; two rows sharing a key
  (two endpoints of one upstream) are summed, never dropped;
* ``cost_usd`` is ``usage``, ``cost_source`` ``billed`` (credits are what
  OpenRouter charges); ``prompt_tokens`` -> ``uncached_input_tokens`` (no
  cache breakdown), ``completion_tokens`` (reasoning included) ->
  ``output_tokens``; ``workspace_id`` -> ``project_id``;
* BYOK inference (``byok_usage_inference``) is billed by the customer's own
  upstream account; with ``include_byok`` it becomes a separate
  ``<provider>, byok`` record so the two never mix.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

import msgspec

from costpipe.providers.openrouter.schema import (
    ActivityItem,
    ActivityResponse,
    Credits,
    CreditsResponse,
)
from costpipe.providers.planning import merge_duplicates
from costpipe.providers.typed_json import decode_page
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["DAY", "activity_records", "decode_activity", "decode_credits"]

DAY = timedelta(days=1)
_ACTIVITY = msgspec.json.Decoder(ActivityResponse)
_CREDITS = msgspec.json.Decoder(CreditsResponse)


def decode_activity(page: bytes) -> list[ActivityItem]:
    """The rows of one ``/activity`` answer."""
    return decode_page(_ACTIVITY, page).data


def decode_credits(page: bytes) -> Credits:
    """The totals of one ``/credits`` answer."""
    return decode_page(_CREDITS, page).data


def activity_records(
    rows: Iterable[ActivityItem], span: Window, account: str, include_byok: bool = False
) -> list[CostRecord]:
    """Billed daily records of the rows whose day lies in *span*."""
    records: list[CostRecord] = []
    for row in rows:
        start = row.day
        if not span.start <= start < span.end:
            continue
        upstream = row.provider_name or row.endpoint_id or ""
        model = row.model or ""
        project = row.workspace_id or ""
        records.append(
            CostRecord(
                start=start,
                width=DAY,
                provider="openrouter",
                account=account,
                cost_source=CostSource.BILLED,
                cost_usd=row.usage,
                model=model,
                project_id=project,
                line_item=upstream,
                uncached_input_tokens=row.prompt_tokens or 0,
                output_tokens=row.completion_tokens or 0,
                requests=row.requests or 0,
            )
        )
        byok = row.byok_usage_inference
        if include_byok and byok:
            records.append(
                CostRecord(
                    start=start,
                    width=DAY,
                    provider="openrouter",
                    account=account,
                    cost_source=CostSource.BILLED,
                    cost_usd=Decimal(byok),
                    model=model,
                    project_id=project,
                    line_item=f"{upstream}, byok",
                )
            )
    return merge_duplicates(records)
