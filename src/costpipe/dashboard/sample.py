"""Deterministic, realistic-looking spend for screenshots, demos and benchmarks.

Not a provider simulator (that lives in :mod:`costpipe.simulator` and speaks
the providers' wire formats): this writes :class:`CostRecord` rows directly, so
the dashboard can be shown and measured without running the pipeline. The
same seed always yields the same records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from costpipe.records import CostRecord, CostSource, utc

__all__ = ["PROJECT_TEAMS", "sample_records"]

#: (provider, model, USD per million input tokens, per million output tokens)
_MODELS = (
    ("openai", "gpt-4.1-2025-04-14", Decimal("2.00"), Decimal("8.00")),
    ("openai", "gpt-4.1-mini-2025-04-14", Decimal("0.40"), Decimal("1.60")),
    ("openai", "o3-2025-04-16", Decimal("2.00"), Decimal("8.00")),
    ("anthropic", "claude-sonnet-4-20250514", Decimal("3.00"), Decimal("15.00")),
    ("anthropic", "claude-3-5-haiku-20241022", Decimal("0.80"), Decimal("4.00")),
)
PROJECT_TEAMS = {
    "proj_support_bot": "customer-care",
    "proj_search": "platform",
    "proj_sales_assist": "revenue",
    "proj_internal_tools": "platform",
    "proj_research": "research",
}
_USERS = ("user_ana", "user_ben", "user_chen", "user_dara", "user_eli", "user_fatima")
_MILLION = Decimal(1_000_000)
_MICRO = Decimal("0.000001")


def _hour_weight(local_hour: int, weekday: int) -> float:
    # Office-hours rhythm: most traffic 8-19 on weekdays, a trickle at night.
    base = 1.0 if 8 <= local_hour < 19 else 0.15
    return base * (0.35 if weekday >= 5 else 1.0)


def sample_records(
    end: datetime, days: int = 45, seed: int = 7, streams_per_hour: int = 24
) -> Iterator[CostRecord]:
    """Hourly usage-based (``estimated``) rows and daily ``billed`` rows for the
    *days* before *end* (aware), plus a little ``unpriced`` usage.

    ``streams_per_hour`` sets the size: about ``days * 24 * streams_per_hour``
    rows in all.
    """
    rng = random.Random(seed)
    end = utc(end).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    projects = list(PROJECT_TEAMS)
    daily: dict[tuple[datetime, str, str, str], Decimal] = {}
    hour = start
    while hour < end:
        weight = _hour_weight(hour.hour, hour.weekday())
        for stream in range(streams_per_hour):
            provider, model, price_in, price_out = _MODELS[stream % len(_MODELS)]
            project = projects[(stream * 7 + stream // 5) % len(projects)]
            user = _USERS[(stream * 5 + stream // 3) % len(_USERS)]
            # Projects differ in size so the breakdown is not flat.
            scale = 1 + projects.index(project) * 0.6 + (stream % len(_MODELS) == 3) * 1.5
            uncached = int(rng.uniform(20_000, 240_000) * weight * scale)
            cached = int(uncached * rng.uniform(0.0, 0.6))
            output = int(uncached * rng.uniform(0.05, 0.3))
            if uncached == 0:
                continue
            cost = (
                (uncached * price_in + cached * price_in / 4 + output * price_out) / _MILLION
            ).quantize(_MICRO)
            yield CostRecord(
                start=hour,
                width=timedelta(hours=1),
                provider=provider,
                account=f"{provider}-prod",
                cost_source=CostSource.ESTIMATED,
                cost_usd=cost,
                model=model,
                user_id=user,
                project_id=project,
                api_key_id=f"key_{project.removeprefix('proj_')}",
                line_item=f"{model}, input+output",
                uncached_input_tokens=uncached,
                cached_input_tokens=cached,
                output_tokens=output,
                requests=max(1, uncached // 3000),
                tags=(("team", PROJECT_TEAMS[project]),),
            )
            day = hour.replace(hour=0)
            key = (day, provider, project, model)
            # The invoice is a little above the estimate (tools, storage, rounding).
            daily[key] = daily.get(key, Decimal(0)) + cost * Decimal("1.04")
        if hour.hour == 14 and hour.weekday() == 2:
            yield CostRecord(
                start=hour,
                width=timedelta(hours=1),
                provider="openai",
                account="openai-prod",
                cost_source=CostSource.UNPRICED,
                model="gpt-5-preview-2026-10-01",
                project_id="proj_research",
                user_id="user_chen",
                line_item="gpt-5-preview-2026-10-01, input+output",
                uncached_input_tokens=180_000,
                output_tokens=42_000,
                requests=12,
                tags=(("team", "research"),),
            )
        hour += timedelta(hours=1)
    for (day, provider, project, model), cost in sorted(daily.items()):
        yield CostRecord(
            start=day,
            width=timedelta(days=1),
            provider=provider,
            account=f"{provider}-prod",
            cost_source=CostSource.BILLED,
            cost_usd=cost.quantize(_MICRO),
            model=model,
            project_id=project,
            line_item=f"{model}, usage",
            tags=(("team", PROJECT_TEAMS[project]),),
        )
