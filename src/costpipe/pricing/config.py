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
    """``[[prices]]``: a model's price in one tier, before genai-prices' (docs/pricing.md).

    USD per million tokens. An override wins over the genai-prices data for that
    model and tier; records it prices carry ``price_source = "override:<name>"``."""

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
    web_search: Decimal | None = Field(
        default=None, ge=0, description="Web-search tool calls, USD per 1,000 (default: unknown)."
    )
    tier: str = Field(
        default="",
        pattern=r"^[a-z_]*(@200k-1M)?$",
        description=(
            "Service tier this price is for: empty (standard), `batch`, `flex`, `priority`...;"
            " `@200k-1M` after it for Anthropic long-context rows, e.g. `batch@200k-1M`."
        ),
    )
    name: str = Field(
        default="config",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Label recorded on the records it prices as `override:<name>` (a contract).",
    )
    effective_from: date | None = Field(
        default=None, description="First UTC day this price applies (default: always)."
    )
