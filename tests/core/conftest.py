"""Fixtures for the core's tests: an in-process plugin with a static provider
and a dictionary sink, so the engine is tested without any network."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from costpipe.components import ComponentConfig, ComponentContext, Sink
from costpipe.errors import SinkUnavailableError
from costpipe.hookspecs import hookimpl
from costpipe.plugins import ComponentRegistry, build_plugin_manager
from costpipe.records import CostRecord
from costpipe.testing.static import StaticProvider


class DictSinkConfig(ComponentConfig):
    fail_after_writes: int | None = None


class DictSink(Sink[DictSinkConfig]):
    """Upserts by record key into a dict; can be told to become unavailable."""

    name: ClassVar[str] = "dict"
    config_model = DictSinkConfig

    def __init__(self, config: DictSinkConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.rows: dict[str, CostRecord] = {}
        self.writes = 0
        self.gate: asyncio.Event | None = None
        self.limit = config.fail_after_writes
        """Writes accepted before the sink reports itself unavailable (None: never)."""

    async def write(self, records: Sequence[CostRecord]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.limit is not None and self.writes >= self.limit:
            raise SinkUnavailableError("dict sink told to fail")
        self.writes += 1
        for record in records:
            self.rows[record.key] = record

    def total(self) -> Decimal:
        return sum((r.cost_usd for r in self.rows.values()), Decimal(0))


class CorePlugin:
    """Registers the test components through the ordinary hooks."""

    __name__ = "core-test-plugin"

    @hookimpl
    def register_providers(self) -> list[type[Any]]:
        return [StaticProvider]

    @hookimpl
    def register_sinks(self) -> list[type[Any]]:
        return [DictSink]


@pytest.fixture
def registry() -> ComponentRegistry:
    _pm, reg = build_plugin_manager(builtins=(), entry_points=False, extra=[CorePlugin()])
    return reg


def make_context(tmp_path: Path, instance: str, slots: int = 8) -> ComponentContext:
    return ComponentContext(
        instance=instance,
        state_dir=tmp_path / instance,
        request_slots=asyncio.Semaphore(slots),
    )
