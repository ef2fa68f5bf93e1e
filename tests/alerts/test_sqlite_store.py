"""The alert engine over the real SQLite store's query layer (not only the fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from costpipe.alerts import AlertEngine
from costpipe.components import ComponentContext
from costpipe.config.settings import AlertSettings, Settings
from costpipe.notification import NotificationKind
from costpipe.records import CostSource
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing import CapturingNotifier
from tests.alerts.conftest import budget, cost, notifier_map, settings

NOV = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteSink]:
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "costs.sqlite"),
        ComponentContext(instance="sqlite.main", state_dir=tmp_path),
    )
    await sink.start()
    yield sink
    await sink.close()


def make_engine(store: SQLiteSink, notifier: CapturingNotifier, config: Settings) -> AlertEngine:
    return AlertEngine(
        config,
        store.reader(),
        notifier_map(notifier),
        store.context.state_dir / "alerts",
        structlog.get_logger(),
        retry_delay=0.01,
    )


async def test_per_user_thresholds_and_revision_over_sqlite(
    store: SQLiteSink, tmp_path: Path
) -> None:
    """Per-user alert, then a downward revision resolves it, read through SQL."""
    notifier = CapturingNotifier.create("capture.ops")
    rule = budget(group_by="user_id", thresholds=[80])
    alerts = make_engine(store, notifier, settings(rule))
    await store.write([cost(NOV, "85.5", user="alice"), cost(NOV, "10", user="bob")])
    await alerts.evaluate(NOV.replace(hour=2), {})
    await store.write([cost(NOV, "40", user="alice")])
    await alerts.evaluate(NOV.replace(hour=3), {})
    assert [(n.kind, n.group, n.spend_usd) for n in notifier.sent] == [
        (NotificationKind.THRESHOLD, "alice", 85.5),
        (NotificationKind.RESOLVED, "alice", 40),
    ]


async def test_local_month_and_tag_filter_over_sqlite(store: SQLiteSink, tmp_path: Path) -> None:
    """A New York month and a filter on an enricher tag are evaluated in SQL."""
    notifier = CapturingNotifier.create("capture.ops")
    rule = budget(filters={"team": ["search"]}, thresholds=[50])
    alerts = make_engine(store, notifier, settings(rule, timezone="America/New_York"))
    # 04:00 UTC on Nov 1 is still October in New York.
    await store.write(
        [
            cost(datetime(2026, 11, 1, 3, tzinfo=UTC), "60", item="oct").with_tags(
                {"team": "search"}
            ),
            cost(NOV, "30", item="nov").with_tags({"team": "search"}),
            cost(NOV, "90", item="ads").with_tags({"team": "ads"}),
        ]
    )
    await alerts.evaluate(NOV.replace(hour=5), {})
    assert notifier.sent == []
    await store.write([cost(NOV, "25", item="nov2").with_tags({"team": "search"})])
    await alerts.evaluate(NOV.replace(hour=6), {})
    assert [n.spend_usd for n in notifier.sent] == [55]


async def test_unpriced_usage_over_sqlite(store: SQLiteSink, tmp_path: Path) -> None:
    notifier = CapturingNotifier.create("capture.ops")
    alerts = make_engine(store, notifier, settings(alerts=AlertSettings(unpriced_notify=["ops"])))
    await store.write([cost(NOV, "0", source=CostSource.UNPRICED, model="gpt-9", tokens=500)])
    await alerts.evaluate(NOV.replace(hour=2), {})
    await alerts.evaluate(NOV.replace(hour=3), {})
    assert [n.details.get("model") for n in notifier.sent] == ["gpt-9"]
