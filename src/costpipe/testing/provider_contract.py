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

The contract: a fetch of the window yields records; fetching it again yields
the same keys; no two records of one fetch share a key; every record lies
inside the (aligned) window and starts at an aware UTC time; money is Decimal;
windows that are *not* aligned to the buckets follow the rule documented on
:class:`~costpipe.components.Provider` (a bucket belongs to the window its end
falls in, so consecutive windows yield each bucket exactly once); a refused
credential raises :class:`~costpipe.errors.AuthError` and is not retried
(``provider.retries`` stays 0); secrets never reach a log line or an error
message.

The secrets looked for are every ``SecretStr`` value of both providers'
configs (see :mod:`costpipe.testing.secrets`), plus the strings of an optional
``secrets`` fixture for secrets that are not config fields. Every name in the
class's ``secret_fields`` must be a ``SecretStr`` field.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentConfig, Provider
from costpipe.errors import AuthError
from costpipe.records import CostRecord, Window
from costpipe.testing.secrets import component_secrets

__all__ = ["ProviderContract", "collect", "unaligned_split"]


async def collect(provider: Provider[Any], window: Window) -> list[CostRecord]:
    """Every record of one ``fetch(window)``, batches flattened."""
    records: list[CostRecord] = []
    async for batch in provider.fetch(window):
        records.extend(batch)
    return records


def unaligned_split(window: Window) -> tuple[Window, Window]:
    """*window* cut in two at an instant no bucket edge falls on (a few minutes and
    seconds past its middle), so each half starts or ends inside a bucket."""
    middle = window.start + (window.duration // 2)
    cut = middle.replace(microsecond=0) + timedelta(minutes=7, seconds=13)
    if not window.start < cut < window.end:
        raise ValueError(f"contract window {window} is too short to split")
    return Window(window.start, cut), Window(cut, window.end)


class ProviderContract:
    """Inherit and provide ``provider``, ``refused_provider`` and
    ``contract_window`` fixtures; ``secrets`` is optional (see module docs)."""

    @pytest.fixture
    def secrets(self) -> list[str]:
        """Secrets that are not ``SecretStr`` config fields (those are found
        automatically)."""
        return []

    @pytest.fixture
    def all_secrets(
        self, provider: Provider[Any], refused_provider: Provider[Any], secrets: list[str]
    ) -> list[str]:
        return component_secrets([provider, refused_provider], secrets)

    def test_secret_fields_are_secret_strings(self, provider: Provider[Any]) -> None:
        """Each ``secret_fields`` entry is a ``SecretStr`` field: masked in reprs,
        and found by the secret-leak checks below."""
        for name in type(provider).secret_fields:
            assert name in type(provider.config).model_fields, f"{name} is not a config field"
            value = getattr(provider.config, name)
            assert value is None or isinstance(value, SecretStr), f"{name} is not a SecretStr"

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
    async def test_unaligned_windows_yield_each_bucket_once(
        self, provider: Provider[Any], contract_window: Window
    ) -> None:
        """Cut at an instant inside a bucket, the two halves yield exactly the
        records of the whole window, none twice; each half yields the buckets
        that end inside it (``start < bucket end <= end``)."""
        whole = await collect(provider, contract_window)
        halves = unaligned_split(contract_window)
        parts = [await collect(provider, half) for half in halves]
        for half, records in zip(halves, parts, strict=True):
            misplaced = [(r.start, r.end) for r in records if not half.start < r.end <= half.end]
            assert misplaced == [], f"buckets that did not end in {half}"
        first, second = ({r.key for r in part} for part in parts)
        assert first & second == set(), "a bucket was yielded by both halves"
        assert first | second == {r.key for r in whole}

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
        self, refused_provider: Provider[Any], contract_window: Window, all_secrets: list[str]
    ) -> None:
        """401/403 raises AuthError without a retry, and its message holds no secret."""
        with pytest.raises(AuthError) as caught:
            await collect(refused_provider, contract_window)
        assert refused_provider.retries == 0
        message = str(caught.value)
        assert refused_provider.instance in message
        for secret in all_secrets:
            assert secret not in message

    @pytest.mark.asyncio
    async def test_secrets_never_logged(
        self,
        provider: Provider[Any],
        refused_provider: Provider[Any],
        contract_window: Window,
        all_secrets: list[str],
    ) -> None:
        """Neither a normal fetch nor a refused one logs a secret."""
        with capture_logs() as logs:
            await collect(provider, contract_window)
            with pytest.raises(AuthError):
                await collect(refused_provider, contract_window)
        text = repr(logs)
        for secret in all_secrets:
            assert secret not in text
