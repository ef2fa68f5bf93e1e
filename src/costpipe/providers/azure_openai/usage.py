"""Hourly Azure Monitor usage -> estimated records, priced like the model's OpenAI price.

Azure OpenAI's global standard deployments are priced as OpenAI lists the
same model, so a usage record is estimated with the ``openai`` price of its
``ModelName`` (``gpt-4o``); a model without a price gives an ``unpriced``
record (tokens real, cost 0, logged once), as every provider does.
"""

from __future__ import annotations

from collections.abc import Iterable

from costpipe.providers.azure_openai.monitor import HOUR, HourUsage
from costpipe.providers.planning import UsagePricer, merge_duplicates, priced_by
from costpipe.records import CostRecord

__all__ = ["usage_records"]


def usage_records(rows: Iterable[HourUsage], pricer: UsagePricer, account: str) -> list[CostRecord]:
    records: list[CostRecord] = []
    for row in rows:
        prompt = row.counts.get("prompt", 0)
        generated = row.counts.get("generated", 0)
        rate = pricer.rate(row.model, row.start)
        cost = None if rate is None else rate.cost(prompt, 0, 0, 0, generated)
        cost_usd, source, price_source = priced_by(rate, cost)
        records.append(
            CostRecord(
                start=row.start,
                width=HOUR,
                provider="azure_openai",
                account=account,
                cost_source=source,
                cost_usd=cost_usd,
                price_source=price_source,
                model=row.model,
                project_id=row.project_id,
                line_item=f"deployment {row.deployment}",
                uncached_input_tokens=prompt,
                output_tokens=generated,
                requests=row.counts.get("requests", 0),
            )
        )
    return merge_duplicates(records)
