"""Budgets with ``group_by``: records without the dimension belong to nobody.

Before, every record without a user (all Anthropic rows, embeddings, service
accounts) made one group ``""`` that alerted as "$37.05 spent of $5.00" naming
nobody. Now they are left out by default, ``include_missing = true`` alerts on
them as the group ``(none)``, and every grouped notification names its group.
Run on the in-memory reader and on the real SQLite store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from costpipe.components import ComponentContext
from costpipe.query.api import CostReader
from costpipe.records import CostRecord
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing import CapturingNotifier, MemorySink
from tests.alerts.conftest import budget, cost, engine, notifier_map, settings

NOV = datetime(2026, 11, 10, tzinfo=UTC)


class Store:
    """A writable store and its reader, with the engine's expected ``reader()``."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def reader(self) -> CostReader:
        reader: CostReader = self.sink.reader()
        return reader

    async def add(self, *records: CostRecord) -> None:
        await self.sink.write(list(records))


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield Store(MemorySink.create())
        return
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "costs.sqlite"), ComponentContext("sqlite.t", tmp_path)
    )
    await sink.start()
    yield Store(sink)
    await sink.close()


def capture() -> CapturingNotifier:
    return CapturingNotifier.create("capture.ops")


async def test_records_without_the_dimension_are_left_out_by_default(
    store: Store, tmp_path: Path
) -> None:
    notifier = capture()
    rule = budget(group_by="user_id", amount_usd=5, thresholds=[100])
    alerts = engine(settings(rule), store, notifier_map(notifier), tmp_path / "state")  # type: ignore[arg-type]
    await store.add(cost(NOV, "37.05"), cost(NOV, "6", user="alice"), cost(NOV, "1", user="bob"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    assert [("alice", "Budget monthly (alice) reached 100 %")] == [
        (n.group, n.title) for n in notifier.sent
    ]


async def test_include_missing_alerts_on_them_as_the_none_group(
    store: Store, tmp_path: Path
) -> None:
    notifier = capture()
    rule = budget(group_by="user_id", amount_usd=5, thresholds=[100], include_missing=True)
    alerts = engine(settings(rule), store, notifier_map(notifier), tmp_path / "state")  # type: ignore[arg-type]
    await store.add(cost(NOV, "37.05"), cost(NOV, "1", user="bob"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    ((note,),) = [notifier.sent]
    assert ("(none)", "Budget monthly (none) reached 100 %") == (note.group, note.title)
    assert "$37.05 spent of $5.00" in note.summary


async def test_every_grouped_notification_names_its_group(store: Store, tmp_path: Path) -> None:
    notifier = capture()
    rules = [
        budget(name="a", group_by="user_id", amount_usd=5, thresholds=[50, 100], forecast=True),
        budget(name="b", group_by="user_id", amount_usd=5, include_missing=True),
    ]
    alerts = engine(settings(*rules), store, notifier_map(notifier), tmp_path / "state")  # type: ignore[arg-type]
    await store.add(cost(NOV, "9"), cost(NOV, "3", user="carol"), cost(NOV, "8", user="dan"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    assert notifier.sent
    for note in notifier.sent:
        assert note.group in ("carol", "dan", "(none)")
        assert note.group in note.title


def test_include_missing_defaults_to_false() -> None:
    assert budget(group_by="user_id").include_missing is False
