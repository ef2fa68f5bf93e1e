"""The record type before issue 16, kept as the baseline of the construction figure.

A frozen, slotted dataclass with the same 17 fields and the same checks in
``__post_init__`` as ``CostRecord`` had (UTC start, Decimal money, a
CostSource, sorted tags). Its instances are tracked by the cyclic garbage
collector; ``costpipe.records.CostRecord`` (a frozen ``msgspec.Struct`` with
``gc=False``) is not. Nothing in costpipe uses this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from costpipe.records import CostSource, utc

__all__ = ["LegacyRecord"]


@dataclass(frozen=True, slots=True)
class LegacyRecord:
    start: datetime
    width: timedelta
    provider: str
    account: str
    cost_source: CostSource
    cost_usd: Decimal = Decimal(0)
    model: str = ""
    user_id: str = ""
    project_id: str = ""
    api_key_id: str = ""
    line_item: str = ""
    uncached_input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    tags: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.start.tzinfo is not UTC:
            object.__setattr__(self, "start", utc(self.start))
        if not isinstance(self.cost_usd, Decimal):
            raise TypeError(f"cost_usd must be Decimal, got {type(self.cost_usd).__name__}")
        if not isinstance(self.cost_source, CostSource):
            object.__setattr__(self, "cost_source", CostSource(self.cost_source))
        if self.tags:
            object.__setattr__(self, "tags", tuple(sorted(dict(self.tags).items())))
