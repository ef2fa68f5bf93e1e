"""``[[reports]]`` digests: the local schedule, figures equal to the query layer's, sent
once per period across restarts, through a real SMTP server and a real webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from costpipe.alerts.messages import format_usd
from costpipe.config.operations import ReportConfig
from costpipe.config.settings import Settings
from costpipe.errors import ConfigError
from costpipe.notification import Notification, NotificationKind
from costpipe.query.api import Basis, CostQuery
from costpipe.reports.schedule import latest_due
from costpipe.reports.scheduler import ReportScheduler
from costpipe.reports.service import AlertsWithReports
from costpipe.testing import MemorySink
from tests.alerts.conftest import (
    SmtpServer,
    WebhookReceiver,
    budget,
    cost,
    email_notifier,
    engine,
    notifier_map,
    settings,
    webhook_notifier,
)

HOSTILE = "<script>alert(1)</script>"


def report(**fields: Any) -> ReportConfig:
    data: dict[str, Any] = {
        "name": "finops",
        "every": "week",
        "weekday": "monday",
        "hour": 8,
        "timezone": "Pacific/Auckland",
        "cost_basis": "billed",
        "dimensions": ["user_id", "model"],
        "notify": ["ops", "hooks"],
    }
    data.update(fields)
    return ReportConfig.model_validate(data)


# -- schedule ---------------------------------------------------------------------------------


def test_weekly_digest_is_due_on_the_local_weekday() -> None:
    """Monday 08:00 in Auckland is Sunday 19:00 UTC; the week is Auckland's Mon-Sun."""
    weekly = report()
    before = latest_due(weekly, datetime(2026, 11, 29, 18, 59, tzinfo=UTC), "UTC")
    due = latest_due(weekly, datetime(2026, 11, 29, 19, 0, tzinfo=UTC), "UTC")
    assert datetime(2026, 11, 22, 19, 0, tzinfo=UTC) == before.due_at
    assert datetime(2026, 11, 29, 19, 0, tzinfo=UTC) == due.due_at
    assert "week:2026-11-23" == due.key
    assert datetime(2026, 11, 22, 11, 0, tzinfo=UTC) == due.start  # Mon 23 Nov 00:00 NZDT
    assert datetime(2026, 11, 29, 11, 0, tzinfo=UTC) == due.end
    assert datetime(2026, 11, 15, 11, 0, tzinfo=UTC) == due.previous_start


def test_monthly_digest_covers_the_previous_calendar_month() -> None:
    monthly = report(every="month", day=3, hour=9, timezone="Europe/Paris")
    due = latest_due(monthly, datetime(2027, 1, 3, 8, 0, tzinfo=UTC), "UTC")  # 09:00 in Paris
    assert "month:2026-12-01" == due.key
    assert "December 2026" == due.label
    assert datetime(2026, 11, 30, 23, 0, tzinfo=UTC) == due.start
    assert datetime(2026, 12, 31, 23, 0, tzinfo=UTC) == due.end
    assert (
        "month:2026-11-01"
        == latest_due(monthly, datetime(2027, 1, 3, 7, 59, tzinfo=UTC), "UTC").key
    )


# -- delivery ---------------------------------------------------------------------------------


def fill(sink: MemorySink) -> None:
    """Two weeks of hourly spend: alice steady, bob growing, a hostile user new this week."""
    start = datetime(2026, 11, 15, tzinfo=UTC)
    for hour in range(15 * 24):
        moment = start + timedelta(hours=hour)
        week2 = moment >= datetime(2026, 11, 22, 11, tzinfo=UTC)
        sink.add(cost(moment, "0.25", user="alice", model="gpt-4o"))
        sink.add(cost(moment, "0.40" if week2 else "0.10", user="bob", model="gpt-5", item="b"))
        if week2:
            sink.add(cost(moment, "0.05", user=HOSTILE, model="gpt-5", item="h"))


def with_reports(
    config: Settings, sink: MemorySink, notifiers: Any, state: Path
) -> AlertsWithReports:
    alerts = engine(config, sink, notifiers, state)
    log = structlog.get_logger("costpipe.reports")
    reports = ReportScheduler(config, sink.reader(), notifiers, alerts.state, alerts.outbox, log)
    return AlertsWithReports(alerts, reports)


async def test_weekly_digest_arrives_once_on_the_local_weekday_with_the_query_layers_figures(
    sink: MemorySink, smtp_server: SmtpServer, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    fill(sink)
    mail = email_notifier(smtp_server.port, tmp_path)
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    config = settings(budget(name="monthly", amount_usd=1000, notify=[]))
    config.reports = [report()]
    notifiers = notifier_map(mail, hook)
    moment = datetime(2026, 11, 28, 12, tzinfo=UTC)  # Sunday 01:00 in Auckland
    arrivals: list[datetime] = []
    while moment < datetime(2026, 11, 30, 12, tzinfo=UTC):
        # A restart before every pass: what was sent is remembered on disk.
        both = with_reports(config, sink, notifiers, tmp_path / "state")
        await both.enqueue_due(moment, {})
        await both.deliver_pending()
        both.close()
        if len(receiver.requests) > len(arrivals):
            arrivals.append(moment)
        moment += timedelta(minutes=30)
    await hook.close()

    # Monday 08:00 NZDT, still Sunday in UTC.
    assert [datetime(2026, 11, 29, 19, 0, tzinfo=UTC)] == arrivals
    assert 1 == len(smtp_server.inbox.messages)
    (request,) = receiver.requests
    body = request.json()
    assert "digest" == body["kind"]
    assert "Weekly spend report finops: 2026-11-23 to 2026-11-29" == body["title"]

    reader = sink.reader()
    week = CostQuery(
        datetime(2026, 11, 22, 11, tzinfo=UTC), datetime(2026, 11, 29, 11, tzinfo=UTC), Basis.BILLED
    )
    before = CostQuery(datetime(2026, 11, 15, 11, tzinfo=UTC), week.start, Basis.BILLED)
    assert str(await reader.total(week)) == body["spend_usd"]
    tables = {t["title"]: t for t in body["tables"]}
    providers = {row[0]: row[1:] for row in tables["Spend by provider"]["rows"]}
    assert {
        "openai": [
            format_usd(await reader.total(week)),
            format_usd(await reader.total(before)),
            providers["openai"][2],
        ]
    } == providers
    users_now = {b.group: b.cost_usd for b in await reader.breakdown(week, "user_id")}
    users_before = {b.group: b.cost_usd for b in await reader.breakdown(before, "user_id")}
    expected_users = [
        [user, format_usd(spend), format_usd(users_before.get(user, Decimal(0)))]
        for user, spend in sorted(users_now.items(), key=lambda kv: -kv[1])
    ]
    assert expected_users == [row[:3] for row in tables["Top user_id"]["rows"]]
    assert "+300.0 %" == next(r[3] for r in tables["Top user_id"]["rows"] if r[0] == "bob")
    assert "new" == next(r[3] for r in tables["Top user_id"]["rows"] if r[0] == HOSTILE)
    # gpt-5 gained bob's growth and the new user's spend: the largest move, then bob.
    assert ["model gpt-5", "user_id bob"] == [r[0] for r in tables["Top movers"]["rows"][:2]]
    assert ["monthly"] == [row[0] for row in tables["Budgets"]["rows"]]

    (message,) = smtp_server.inbox.messages
    html = message.get_body(("html",))
    assert html is not None
    markup = html.get_content()
    assert HOSTILE not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert format_usd(await reader.total(week)) in markup


async def test_digest_lists_the_periods_anomalies_from_the_outbox(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """Anomaly notifications stored during the period appear in the digest; others do not."""
    fill(sink)
    hook = webhook_notifier(receiver.url, tmp_path, fmt="slack")
    await hook.start()
    config = settings()
    config.reports = [report(notify=["hooks"])]
    both = with_reports(config, sink, notifier_map(hook), tmp_path / "state")
    await both.enqueue_due(datetime(2026, 11, 20, tzinfo=UTC), {})  # first seen
    inside = Notification(
        "anomaly-1",
        NotificationKind.THRESHOLD,
        "Spend of user bob is 4.0x its usual",
        "",
        datetime(2026, 11, 25, 3, tzinfo=UTC),
        rule="spikes",
        labels={"kind": "anomaly"},
    )
    outside = Notification(
        "anomaly-0",
        NotificationKind.THRESHOLD,
        "An older spike",
        "",
        datetime(2026, 11, 20, 3, tzinfo=UTC),
        rule="spikes",
        labels={"kind": "anomaly"},
    )
    with both.engine.state.transaction():
        both.engine.outbox.enqueue(inside, ["nowhere"], inside.created_at)
        both.engine.outbox.enqueue(outside, ["nowhere"], outside.created_at)
    await both.enqueue_due(datetime(2026, 11, 29, 20, tzinfo=UTC), {})
    await both.deliver_pending()
    await hook.close()
    both.close()
    (request,) = receiver.requests
    text = "\n".join(
        b.get("text", {}).get("text", "")
        for b in request.json()["blocks"]
        if b["type"] == "section"
    )
    assert "Spend of user bob is 4.0x its usual" in text
    assert "An older spike" not in text
    assert "&lt;script&gt;" in text  # Slack mrkdwn escaping of the hostile user


# -- configuration and wiring ------------------------------------------------------------------

CONFIG = """
[[sinks.sqlite]]
path = "{path}"

[[notifiers.webhook]]
name = "hooks"
url = "http://127.0.0.1:9/hook"

[[reports]]
name = "weekly"
notify = ["hooks"]

[[maintenance]]
name = "nightly"
every = "day"
at = "02:00"
duration = "1h"
"""


def test_reports_and_maintenance_are_validated_with_their_paths(
    make_settings: Any, tmp_path: Path
) -> None:
    document = CONFIG.format(path=tmp_path / "c.sqlite")
    parsed = make_settings(document)
    assert ["weekly"] == [r.name for r in parsed.reports]
    assert ["nightly"] == [m.name for m in parsed.maintenance]
    with pytest.raises(ConfigError, match=r"reports\[1\]\.name: 'weekly' is used twice"):
        make_settings(document + '[[reports]]\nname = "weekly"\nnotify = ["hooks"]\n')
    with pytest.raises(ConfigError, match=r"reports\[0\]\.notify: no notifier instance is named"):
        make_settings(document.replace('notify = ["hooks"]', 'notify = ["hoks"]'))
    with pytest.raises(ConfigError, match=r"maintenance\[0\]"):
        make_settings(document.replace('duration = "1h"', ""))
    with pytest.raises(ConfigError, match=r"reports\[0\]\.dimensions: .*'User Id' is neither"):
        make_settings(
            document.replace('notify = ["hooks"]', 'notify = ["hooks"]\ndimensions = ["User Id"]')
        )


async def test_the_daemon_wiring_gates_the_outbox_and_adds_the_reports(
    make_settings: Any, tmp_path: Path
) -> None:
    from costpipe.alerts.suppression import Suppressor
    from costpipe.engine.runtime import Runtime
    from costpipe.engine.wiring import alert_engine_for

    parsed = make_settings(CONFIG.format(path=tmp_path / "c.sqlite"))
    evaluator = alert_engine_for(parsed, Runtime.create(parsed))
    try:
        assert isinstance(evaluator, AlertsWithReports)
        assert isinstance(evaluator.engine.outbox.gate, Suppressor)
        assert ["nightly"] == [w.name for w in evaluator.engine.outbox.gate.windows]
    finally:
        evaluator.close()


async def test_digest_figures_equal_the_sqlite_query_layers(tmp_path: Path) -> None:
    """Over the real SQLite store, the digest's total and rows are its reader's answers."""
    from costpipe.components import ComponentContext
    from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
    from costpipe.testing import CapturingNotifier

    store = SQLiteSink(
        SQLiteConfig(path=tmp_path / "costs.sqlite"),
        ComponentContext(instance="sqlite.main", state_dir=tmp_path),
    )
    await store.start()
    memory = MemorySink.create()
    fill(memory)
    capture = CapturingNotifier.create("capture.ops")
    config = settings()
    config.reports = [report(notify=["ops"])]
    alerts = engine(config, memory, notifier_map(capture), tmp_path / "state")
    reader = store.reader()
    week = CostQuery(
        datetime(2026, 11, 22, 11, tzinfo=UTC), datetime(2026, 11, 29, 11, tzinfo=UTC), Basis.BILLED
    )
    try:
        await store.write(list(memory.records.values()))
        scheduler = ReportScheduler(
            config,
            reader,
            notifier_map(capture),
            alerts.state,
            alerts.outbox,
            structlog.get_logger(),
        )
        await scheduler.enqueue_due(datetime(2026, 11, 20, tzinfo=UTC))
        await scheduler.enqueue_due(datetime(2026, 11, 29, 19, 0, tzinfo=UTC))
        await alerts.deliver_pending()
        (digest,) = capture.sent
        assert await reader.total(week) == digest.spend_usd
        models = {b.group: format_usd(b.cost_usd) for b in await reader.breakdown(week, "model")}
        table = next(t for t in digest.tables if t.title == "Top model")
        assert models == {row[0]: row[1] for row in table.rows}
    finally:
        alerts.close()
        await store.close()


class FlakyReader:
    """The memory reader, refusing every question while ``down`` (a store that is down)."""

    def __init__(self, sink: MemorySink) -> None:
        self.inner = sink.reader()
        self.down = True

    async def total(self, query: CostQuery) -> Decimal:
        if self.down:
            raise ConnectionError("store is down")
        return await self.inner.total(query)

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> Any:
        if self.down:
            raise ConnectionError("store is down")
        return await self.inner.breakdown(query, by, top)


async def test_a_store_that_is_down_is_logged_once_and_the_digest_follows_later(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    from structlog.testing import capture_logs

    fill(sink)
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    config = settings()
    config.reports = [report(notify=["hooks"])]
    alerts = engine(config, sink, notifier_map(hook), tmp_path / "state")
    reader = FlakyReader(sink)
    scheduler = ReportScheduler(
        config,
        reader,
        notifier_map(hook),
        alerts.state,
        alerts.outbox,
        structlog.get_logger(),  # type: ignore[arg-type]
    )
    await scheduler.enqueue_due(datetime(2026, 11, 20, tzinfo=UTC))
    with capture_logs() as logs:
        for minutes in (0, 20, 40):  # within the hour: no reminder yet
            await scheduler.enqueue_due(datetime(2026, 11, 29, 19, minutes, tzinfo=UTC))
        reader.down = False
        await scheduler.enqueue_due(datetime(2026, 11, 29, 20, 30, tzinfo=UTC))
    await alerts.deliver_pending()
    await hook.close()
    alerts.close()
    events = [e["event"] for e in logs]
    assert 1 == events.count("report_failed")
    assert 1 == events.count("report_recovered")
    assert 1 == len(receiver.requests)
