"""``[[prices]]``: the config model of a price override, next to the code that uses it.

It lives here rather than in :mod:`costpipe.config` so that the price table
never imports the config loader (which imports the plugin machinery, which
imports the component bases, which name the price table): the pricing package
depends on nothing else in costpipe.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PriceConfig"]


class PriceConfig(BaseModel):
    """``[[prices]]``: add or override a model's price (USD per million tokens)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(description="Provider kind, e.g. `openai`, `anthropic`.")
    model: str = Field(description="Model name as the provider reports it (dated snapshot).")
    input: Decimal = Field(ge=0, description="Uncached input, USD per million tokens.")
    output: Decimal = Field(ge=0, description="Output, USD per million tokens.")
    cached_input: Decimal | None = Field(
        default=None, ge=0, description="Cache reads; defaults to the input price."
    )
    cache_write: Decimal | None = Field(
        default=None, ge=0, description="Cache writes (5 minutes); defaults to the input price."
    )
    cache_write_1h: Decimal | None = Field(
        default=None, ge=0, description="1-hour cache writes; defaults to `cache_write`."
    )
    effective_from: date | None = Field(
        default=None, description="First UTC day this price applies (default: always)."
    )
