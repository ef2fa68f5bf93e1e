"""The OpenRouter provider: its config, ``/activity`` and ``/credits`` (the IO).

The request plan is :mod:`~costpipe.providers.openrouter.plan`, the pure
decoders :mod:`~costpipe.providers.openrouter.decode`; the package docstring
says what is recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, TypeVar

from pydantic import Field

from costpipe.components import ComponentContext
from costpipe.errors import MalformedDataError
from costpipe.providers.base import HttpProvider, HttpProviderConfig, PageError, Timer
from costpipe.providers.openrouter.decode import (
    activity_records,
    decode_activity,
    decode_credits,
)
from costpipe.providers.openrouter.plan import ACTIVITY, CREDITS, plan_activity
from costpipe.records import CostRecord, Window

__all__ = ["OpenRouterConfig", "OpenRouterProvider"]

AUTH_REQUIREMENT = "an OpenRouter management key (Settings > Management keys)"
T = TypeVar("T")


class OpenRouterConfig(HttpProviderConfig):
    """``[[providers.openrouter]]``."""

    base_url: str = Field(
        default="https://openrouter.ai/api/v1", description="API root (with /api/v1)."
    )
    workspace_id: str | None = Field(
        default=None, description="Only this workspace (default: all workspaces)."
    )
    include_byok: bool = Field(
        default=False,
        description="Also record BYOK inference cost, billed by your own upstream account.",
    )
    low_credit_usd: Decimal | None = Field(
        default=None, ge=0, description="Warn once when the remaining credit falls below this."
    )


class OpenRouterProvider(HttpProvider[OpenRouterConfig]):
    """Daily credits spent on one OpenRouter account, by model and upstream."""

    name: ClassVar[str] = "openrouter"
    config_model: ClassVar[type[OpenRouterConfig]] = OpenRouterConfig
    auth_requirement: ClassVar[str] = AUTH_REQUIREMENT
    bucket: ClassVar[str] = "1d"

    def __init__(
        self,
        config: OpenRouterConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context, clock=clock, timer=timer)
        self.remaining_credit_usd: Decimal | None = None
        self._credit_low = False

    async def check_connection(self) -> str:
        remaining = await self.read_credits()
        return (
            f"OpenRouter at {self.http.base_url} accepted the management key; "
            f"${remaining:.2f} credit remaining"
        )

    async def read_credits(self) -> Decimal:
        """``total_credits - total_usage`` from ``/credits``, exact; also stored
        in :attr:`remaining_credit_usd` and logged."""
        credits = await self._get(CREDITS, [], decode_credits)
        remaining = credits.total_credits - credits.total_usage
        self.remaining_credit_usd = remaining
        self.log.info("openrouter_credits", provider=self.instance, remaining_usd=str(remaining))
        threshold = self.config.low_credit_usd
        low = threshold is not None and remaining < threshold
        if low and not self._credit_low:
            self.log.warning(
                "openrouter_credit_low",
                provider=self.instance,
                remaining_usd=str(remaining),
                threshold_usd=str(threshold),
            )
        self._credit_low = low
        return remaining

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        plan = plan_activity(window, self._clock(), self.config.workspace_id)
        if plan is None:
            return
        if plan.unavailable is not None:
            self.log.warning(
                "history_unavailable",
                provider=self.instance,
                requested_from=plan.unavailable.start.date().isoformat(),
                available_from=plan.unavailable.end.date().isoformat(),
            )
        span = plan.span
        if span is None:
            return
        records: list[CostRecord] | None = None
        with self.setting_aside(ACTIVITY):
            rows = await self._get(ACTIVITY, plan.params, decode_activity)
            records = activity_records(rows, span, self.account, self.config.include_byok)
        if records is None:
            return  # set aside: the credits are not read either
        if records:
            yield records
        try:
            await self.read_credits()
        except MalformedDataError as exc:
            # The usage is safe; a credits hiccup must not fail the pass.
            self.log.warning(
                "openrouter_credits_unreadable", provider=self.instance, error=str(exc)
            )

    async def _get(
        self, path: str, params: list[tuple[str, str]], decode: Callable[[bytes], T]
    ) -> T:
        raw = await self.http.get_bytes(path, params)
        try:
            return decode(raw.body)
        except MalformedDataError as exc:
            raise PageError(raw.url, str(exc)) from None
