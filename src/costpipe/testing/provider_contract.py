"""``ProviderContract``: the behaviour every provider must show, as a test base class.

A provider's test module subclasses it and provides these fixtures::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        async def provider(self):            # started, against a server with data
            ...
        @pytest.fixture
        async def refused_provider(self):    # started, its credential refused (401/403)
            ...
        @pytest.fixture
        def contract_window(self) -> Window: # aligned to the provider's buckets,
            ...                              # with data in it, in the past
        @pytest.fixture
        def secrets(self) -> list[str]:      # strings that must never be logged
            return ["sk-test-secret"]

The contract: a fetch of the window yields records; fetching it again yields
the same keys; no two records of one fetch share a key; every record lies
inside the window and starts at an aware UTC time; money is Decimal; a
refused credential raises :class:`~costpipe.errors.AuthError` and is not
retried (``provider.retries`` stays 0); secrets never reach a log line or an
error message.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from costpipe.components import ComponentConfig, Provider
from costpipe.errors import AuthError
from costpipe.records import CostRecord, Window

__all__ = ["ProviderContract", "collect"]


async def collect(provider: Provider[Any], window: Window) -> list[CostRecord]:
    """Every record of one ``fetch(window)``, batches flattened."""
    records: list[CostRecord] = []
    async for batch in provider.fetch(window):
        records.extend(batch)
    return records


class ProviderContract:
    """Inherit and provide ``provider``, ``refused_provider``,
    ``contract_window`` and ``secrets`` fixtures (see module docs)."""

    @pytest.fixture
    def secrets(self) -> list[str]:
        return []

    def test_class_declares_name_and_strict_config(self, provider: Provider[Any]) -> None:
        """The class names its table and forbids unknown config keys."""
        cls = type(provider)
        assert isinstance(cls.name, str)
        assert cls.name
        assert issubclass(cls.config_model, ComponentConfig)
        assert cls.config_model.model_config.get("extra") == "forbid"

    @pytest.mark.asyncio
    async def test_fetch_yields_records(
        self, provider: Provider[Any], contract_window: Window
    ) -> None:
        """The contract window has data, so the other checks are not vacuous."""
        records = await collect(provider, contract_window)
        assert records, "the contract window must contain data"
        assert all(isinstance(r, CostRecord) for r in records)

    @pytest.mark.asyncio
    async def test_refetch_yields_same_keys(
        self, provider: Provider[Any], contract_window: Window
    ) -> None:
        """Fetching a window twice yields the same record keys (re-runnable)."""
        first = await collect(provider, contract_window)
        second = await collect(provider, contract_window)
        assert sorted(r.key for r in first) == sorted(r.key for r in second)

    @pytest.mark.asyncio
    async def test_keys_are_unique_within_a_fetch(
        self, provider: Provider[Any], contract_window: Window
    ) -> None:
        """Two records of one fetch never share a key (an upsert would drop one)."""
        records = await collect(provider, contract_window)
        keys = [r.key for r in records]
        assert len(set(keys)) == len(keys)

    @pytest.mark.asyncio
    async def test_records_lie_inside_the_window(
        self, provider: Provider[Any], contract_window: Window
    ) -> None:
        """Every record's bucket lies inside ``[window.start, window.end)``."""
        records = await collect(provider, contract_window)
        outside = [
            (r.start, r.end)
            for r in records
            if not (contract_window.start <= r.start and r.end <= contract_window.end)
        ]
        assert outside == []
        assert all(r.width > timedelta(0) for r in records)

    @pytest.mark.asyncio
    async def test_records_are_utc_with_decimal_money(
        self, provider: Provider[Any], contract_window: Window
    ) -> None:
        """Starts are aware UTC datetimes; money is Decimal."""
        records = await collect(provider, contract_window)
        assert all(r.start.tzinfo is UTC for r in records)
        assert all(isinstance(r.cost_usd, Decimal) for r in records)

    @pytest.mark.asyncio
    async def test_refused_credential_raises_auth_error_once(
        self, refused_provider: Provider[Any], contract_window: Window, secrets: list[str]
    ) -> None:
        """401/403 raises AuthError without a retry, and its message holds no secret."""
        with pytest.raises(AuthError) as caught:
            await collect(refused_provider, contract_window)
        assert refused_provider.retries == 0
        message = str(caught.value)
        assert refused_provider.instance in message
        for secret in secrets:
            assert secret not in message

    @pytest.mark.asyncio
    async def test_secrets_never_logged(
        self,
        provider: Provider[Any],
        refused_provider: Provider[Any],
        contract_window: Window,
        secrets: list[str],
    ) -> None:
        """Neither a normal fetch nor a refused one logs a secret."""
        with capture_logs() as logs:
            await collect(provider, contract_window)
            with pytest.raises(AuthError):
                await collect(refused_provider, contract_window)
        text = repr(logs)
        for secret in secrets:
            assert secret not in text
