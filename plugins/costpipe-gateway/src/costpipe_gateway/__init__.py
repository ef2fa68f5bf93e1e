"""costpipe provider for an in-house LLM gateway (``[[providers.gateway]]``).

The gateway's usage API (one page of hourly rows per request)::

    GET {base_url}/v1/usage?start=2026-03-10T00:00:00Z&end=2026-03-11T00:00:00Z&page=1
    Authorization: Bearer <token>

    200 {"rows": [{"hour": "2026-03-10T09:00:00Z", "team": "search",
                   "user": "alice", "model": "gpt-4o-2024-08-06",
                   "requests": 12, "input_tokens": 5400,
                   "cached_input_tokens": 1200, "output_tokens": 800,
                   "cost_usd": "0.018250"}],
         "next_page": 2}

``start`` is inclusive, ``end`` exclusive, both whole hours; ``next_page`` is
``null`` on the last page; ``input_tokens`` *includes* ``cached_input_tokens``;
``cost_usd`` is a decimal string. Rows are unique per (hour, team, user, model).

Everything HTTP (retries, Retry-After, 401/403 -> AuthError, malformed pages,
redirects refused, bounded response sizes, the global request bound, secrets
kept out of logs) comes from :class:`costpipe.HttpProvider`'s client, and the
page and time bounds of a fetch from its ``fetch_budget()``; this module only
maps rows to records.
"""

from __future__ import annotations

import reprlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from costpipe import (
    CostRecord,
    CostSource,
    HttpProvider,
    HttpProviderConfig,
    Page,
    PageError,
    Provider,
    Window,
    hookimpl,
)
from costpipe.config.durations import Duration

__all__ = ["GatewayConfig", "GatewayProvider", "register_providers"]
__version__ = "0.1.0"

HOUR = timedelta(hours=1)
USAGE = "/v1/usage"


class GatewayConfig(HttpProviderConfig):
    """``[[providers.gateway]]``: ``api_key`` is the gateway token, ``base_url`` its root."""

    base_url: str = Field(description="Gateway root, e.g. `https://llm-gateway.internal`.")
    # Duration reads "12h" like every costpipe duration (a unit is required).
    chunk: Duration = Field(
        default=timedelta(days=1), description="Longest range asked for in one query."
    )


class GatewayProvider(HttpProvider[GatewayConfig]):
    """Hourly usage and cost of the in-house gateway, by team, user and model."""

    name: ClassVar[str] = "gateway"
    config_model: ClassVar[type[GatewayConfig]] = GatewayConfig
    bucket: ClassVar[str] = "1h"
    # Named in the message when the gateway refuses the token (401/403).
    auth_requirement: ClassVar[str] = "a gateway token with the usage:read scope"

    async def check_connection(self) -> str:
        """`costpipe check --connect`: one small read that needs the token."""
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - HOUR
        await self.http.get_json(USAGE, _params(Window(hour, hour + HOUR), 1))
        return f"gateway at {self.http.base_url} accepted the token"

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        # Whole hours only: the gateway reports hourly rows. An hour belongs to the
        # window it ends in (costpipe.components.Provider), so both edges round down.
        start = window.start.replace(minute=0, second=0, microsecond=0)
        end = window.end.replace(minute=0, second=0, microsecond=0)
        if end <= start:
            return
        # A gateway that keeps returning next_page is broken: past `max_pages`
        # (or `max_fetch_duration`) the budget fails the pass instead of looping.
        budget = self.fetch_budget()
        for piece in Window(start, end).split(self.config.chunk):
            page_number: int | None = 1
            count = 0
            # A malformed page is set aside and the next piece is fetched.
            with self.setting_aside(USAGE):
                while page_number is not None:
                    count += 1
                    budget.before_page(self.http.endpoint(USAGE), count)
                    page = await self.http.get_json(USAGE, _params(piece, page_number))
                    records, page_number = self._parse(page, piece)
                    # Yielded even when empty: the core may stop between pages.
                    yield records

    def _parse(self, page: Page, piece: Window) -> tuple[list[CostRecord], int | None]:
        body = page.body
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            raise PageError(page.url, "expected an object with a `rows` list")
        next_page = body.get("next_page")
        if next_page is not None and (
            isinstance(next_page, bool) or not isinstance(next_page, int)
        ):
            raise PageError(page.url, f"`next_page` is not a page number: {next_page!r}")
        records = [self._record(row, page.url) for row in body["rows"]]
        return [r for r in records if r.start in piece], next_page

    def _record(self, row: Any, url: str) -> CostRecord:
        if not isinstance(row, dict):
            raise PageError(url, "a row is not an object")
        try:
            hour = datetime.fromisoformat(str(row["hour"]).replace("Z", "+00:00"))
            total_input = int(row.get("input_tokens", 0))
            cached = int(row.get("cached_input_tokens", 0))
            return CostRecord(
                start=hour,
                width=HOUR,
                provider="gateway",
                account=self.account,
                cost_source=CostSource.BILLED,
                cost_usd=_decimal(row["cost_usd"]),
                model=str(row.get("model") or ""),
                user_id=str(row.get("user") or ""),
                project_id=str(row.get("team") or ""),
                # The gateway's input includes cache reads; costpipe's categories are disjoint.
                uncached_input_tokens=total_input - cached,
                cached_input_tokens=cached,
                output_tokens=int(row.get("output_tokens", 0)),
                requests=int(row.get("requests", 0)),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            # reprlib keeps a hostile row's text short in the log line.
            raise PageError(url, f"bad row {reprlib.repr(row)}: {exc}") from None


def _decimal(value: Any) -> Decimal:
    # costpipe's HTTP client parses JSON fractions as Decimal, so a number is exact too.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"cost_usd {reprlib.repr(value)} is not a decimal")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"cost_usd {reprlib.repr(value)} is not finite")
    return amount


def _params(piece: Window, page: int) -> list[tuple[str, str]]:
    return [
        ("start", piece.start.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("end", piece.end.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("page", str(page)),
    ]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [GatewayProvider]
