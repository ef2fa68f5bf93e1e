"""Between passes, the daemon offers spooled batches to a store that answers again."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from costpipe.config.settings import parse_config
from costpipe.engine import daemon as daemon_module
from costpipe.engine.daemon import Daemon
from costpipe.engine.passes import PassRunner
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
    runner = PassRunner(settings)
    daemon = Daemon(runner)
    async with runner:
        sink = runner.runtime.sinks[0]
        assert isinstance(sink, DictSink)
        [result] = await runner.scheduled_pass()
        assert result.outcome.value == "ok", "spooled data counts as accepted"
        assert runner.spools.pending_batches > 0
        assert not sink.rows

        waiting = asyncio.create_task(daemon._wait_for_next_pass())
        sink.limit = None  # the store is back
        async with asyncio.timeout(120):  # a hang guard: the spool fsyncs, slow under disk load
            while runner.spools.pending_batches:  # noqa: ASYNC110 - polls the daemon's own state
                await asyncio.sleep(0.01)
        daemon.request_stop("test")
        await waiting
    assert result.records == len(sink.rows)
