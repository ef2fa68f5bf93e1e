"""Between passes, the daemon offers spooled batches to a store that answers again."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from costpipe.config.settings import parse_config
from costpipe.engine import daemon as daemon_module
from costpipe.engine.daemon import Daemon
from costpipe.plugins import ComponentRegistry

from .conftest import DictSink


async def test_spool_drains_as_soon_as_the_store_recovers(
    registry: ComponentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "SPOOL_RETRY_SECONDS", 0.02)
    document = tomllib.loads(
        f"""
[pipeline]
state_dir = "{tmp_path}"
interval = "1h"
lookback = "3h"

[[providers.static]]
rows_per_hour = 2

[[sinks.dict]]
fail_after_writes = 0
"""
    )
    settings = parse_config(document, registry, env={})
    daemon = Daemon(settings)
    async with daemon:
        sink = daemon.runtime.sinks[0]
        assert isinstance(sink, DictSink)
        [result] = await daemon.run_pass()
        assert result.outcome.value == "ok", "spooled data counts as accepted"
        assert daemon.spooled[0].pending_batches > 0
        assert not sink.rows

        runner = asyncio.create_task(daemon._idle(3600))
        sink.limit = None  # the store is back
        async with asyncio.timeout(10):
            while daemon.spooled[0].pending_batches:  # noqa: ASYNC110 - polls the daemon's own state
                await asyncio.sleep(0.01)
        daemon.stop.set()
        await runner
    assert result.records == len(sink.rows)
