"""Alert life cycle: periods, groups, forecasts, revisions, repeats, unpriced and stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from structlog.testing import capture_logs

from costpipe.alerts import AlertEngine
from costpipe.config.settings import AlertSettings
from costpipe.errors import AuthError
from costpipe.notification import NotificationKind
from costpipe.records import CostSource
from costpipe.testing import CapturingNotifier, MemorySink
from tests.alerts.conftest import budget, cost, engine, notifier_map, settings

NOV = datetime(2026, 11, 10, tzinfo=UTC)


def capture() -> CapturingNotifier:
    return CapturingNotifier.create("capture.ops")


async def test_alert_triggered_log_has_the_figures(sink: MemorySink, tmp_path: Path) -> None:
    """A firing logs the WARNING event "Alert triggered" with rule, group, period, threshold,
    spend and budget."""
    alerts = engine(settings(budget()), sink, notifier_map(capture()), tmp_path)
    sink.add(cost(NOV, "52.5"))
    with capture_logs() as logs:
        await alerts.evaluate(NOV.replace(hour=2), {})
    (entry,) = [e for e in logs if e["event"] == "Alert triggered"]
    assert entry["log_level"] == "warning"
    assert {k: entry[k] for k in ("rule", "group", "period", "threshold", "spend", "budget")} == {
        "rule": "monthly",
        "group": "",
        "period": "month:2026-11-01",
        "threshold": 50,
        "spend": "52.5",
        "budget": "100",
    }


async def test_jump_over_several_thresholds_sends_only_the_highest(
    sink: MemorySink, tmp_path: Path
) -> None:
    """Going from 0 to 120 % in one pass sends one 100 % message, not three."""
    notifier = capture()
    alerts = engine(settings(budget()), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "120"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    await alerts.evaluate(NOV.replace(hour=3), {})
    assert [n.threshold_percent for n in notifier.sent] == [100]


async def test_month_boundary_resets_at_local_midnight(sink: MemorySink, tmp_path: Path) -> None:
    """In America/New_York, November ends at 05:00 UTC on December 1st."""
    notifier = capture()
    config = settings(budget(send_reset=True), timezone="America/New_York")
    alerts = engine(config, sink, notifier_map(notifier), tmp_path)
    # 03:00 UTC on Dec 1 is 22:00 on Nov 30 in New York: November's money.
    sink.add(cost(datetime(2026, 12, 1, 3, tzinfo=UTC), "60"))
    await alerts.evaluate(datetime(2026, 12, 1, 4, 59, tzinfo=UTC), {})
    assert [(n.kind, n.period) for n in notifier.sent] == [
        (NotificationKind.THRESHOLD, "month:2026-11-01")
    ]

    sink.add(cost(datetime(2026, 12, 1, 5, tzinfo=UTC), "55"))
    await alerts.evaluate(datetime(2026, 12, 1, 5, 30, tzinfo=UTC), {})
    assert [(n.kind, n.period, n.threshold_percent) for n in notifier.sent[1:]] == [
        (NotificationKind.RESET, "month:2026-12-01", None),
        (NotificationKind.THRESHOLD, "month:2026-12-01", 50),
    ]


async def test_new_period_without_send_reset_is_silent(sink: MemorySink, tmp_path: Path) -> None:
    """A new day re-arms the thresholds and sends nothing by itself."""
    notifier = capture()
    alerts = engine(settings(budget(period="day")), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "60"))
    await alerts.evaluate(NOV.replace(hour=5), {})
    await alerts.evaluate(NOV + timedelta(days=1, hours=5), {})
    sink.add(cost(NOV + timedelta(days=1), "70"))
    await alerts.evaluate(NOV + timedelta(days=1, hours=6), {})
    assert [n.period for n in notifier.sent] == ["day:2026-11-10", "day:2026-11-11"]


async def test_per_user_budget_notifies_per_user(sink: MemorySink, tmp_path: Path) -> None:
    """group_by = "user_id" keeps one alert state per user."""
    notifier = capture()
    rule = budget(group_by="user_id", thresholds=[80])
    alerts = engine(settings(rule), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "90", user="alice"), cost(NOV, "10", user="bob"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    sink.add(cost(NOV.replace(hour=1), "75", user="bob"))
    await alerts.evaluate(NOV.replace(hour=3), {})
    await alerts.evaluate(NOV.replace(hour=4), {})
    assert [n.group for n in notifier.sent] == ["alice", "bob"]
    assert "monthly (bob)" in notifier.sent[1].title


async def test_filters_on_an_enricher_tag(sink: MemorySink, tmp_path: Path) -> None:
    """A filter on a tag counts only the records that carry it."""
    notifier = capture()
    rule = budget(filters={"team": ["search"]}, thresholds=[50])
    alerts = engine(settings(rule), sink, notifier_map(notifier), tmp_path)
    sink.add(
        cost(NOV, "40", item="x").with_tags({"team": "search"}),
        cost(NOV, "40", item="y").with_tags({"team": "ads"}),
    )
    await alerts.evaluate(NOV.replace(hour=2), {})
    assert notifier.sent == []
    sink.add(cost(NOV, "15", item="z").with_tags({"team": "search"}))
    await alerts.evaluate(NOV.replace(hour=3), {})
    assert [n.spend_usd for n in notifier.sent] == [55]


async def test_estimated_basis_ignores_billed_money(sink: MemorySink, tmp_path: Path) -> None:
    """cost_basis = "estimated" sums usage estimates only."""
    notifier = capture()
    alerts = engine(
        settings(budget(cost_basis="estimated")), sink, notifier_map(notifier), tmp_path
    )
    sink.add(cost(NOV, "90"), cost(NOV, "55", source=CostSource.ESTIMATED))
    await alerts.evaluate(NOV.replace(hour=2), {})
    assert [n.spend_usd for n in notifier.sent] == [55]


async def test_forecast_fires_on_steep_burn_before_budget_is_reached(
    sink: MemorySink, tmp_path: Path
) -> None:
    """$40 in the first 5 days of a 30-day month projects to $240: one forecast alert
    with the projected exhaustion date, before any threshold is reached."""
    notifier = capture()
    alerts = engine(
        settings(budget(forecast=True, thresholds=[80, 100])),
        sink,
        notifier_map(notifier),
        tmp_path,
    )
    sink.add(cost(datetime(2026, 11, 1, tzinfo=UTC), "40"))
    # Day 2: under 10 % of the month elapsed, too early to extrapolate.
    await alerts.evaluate(datetime(2026, 11, 2, tzinfo=UTC), {})
    assert notifier.sent == []
    await alerts.evaluate(datetime(2026, 11, 6, tzinfo=UTC), {})
    await alerts.evaluate(datetime(2026, 11, 7, tzinfo=UTC), {})
    (alert,) = notifier.sent
    assert alert.kind is NotificationKind.FORECAST
    assert alert.forecast_usd == 240
    # 100 / (40 per 5 days) = 12.5 days after Nov 1.
    assert alert.exhaustion_date == "2026-11-13"


async def test_forecast_stays_quiet_at_a_sustainable_rate(sink: MemorySink, tmp_path: Path) -> None:
    """$10 in 5 days projects to $60: no forecast alert."""
    notifier = capture()
    alerts = engine(settings(budget(forecast=True)), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(datetime(2026, 11, 1, tzinfo=UTC), "10"))
    await alerts.evaluate(datetime(2026, 11, 6, tzinfo=UTC), {})
    assert notifier.sent == []


async def test_resolved_after_downward_revision_then_new_episode(
    sink: MemorySink, tmp_path: Path
) -> None:
    """A revision under an active threshold sends one resolved notice; crossing again
    sends a new alert with a new id."""
    notifier = capture()
    alerts = engine(settings(budget()), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "85"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    sink.add(cost(NOV, "45"))  # same key: the provider revised the figure
    await alerts.evaluate(NOV.replace(hour=3), {})
    await alerts.evaluate(NOV.replace(hour=4), {})
    sink.add(cost(NOV, "82"))
    await alerts.evaluate(NOV.replace(hour=5), {})

    assert [(n.kind, n.threshold_percent) for n in notifier.sent] == [
        (NotificationKind.THRESHOLD, 80),
        (NotificationKind.RESOLVED, 50),
        (NotificationKind.THRESHOLD, 80),
    ]
    assert len(set(notifier.ids)) == 3


async def test_group_revised_to_nothing_resolves(sink: MemorySink, tmp_path: Path) -> None:
    """A group that disappears from the data still gets its resolved notice."""
    notifier = capture()
    rule = budget(group_by="user_id", thresholds=[80])
    alerts = engine(settings(rule), sink, notifier_map(notifier), tmp_path)
    row = cost(NOV, "90", user="carol")
    sink.add(row)
    await alerts.evaluate(NOV.replace(hour=2), {})
    sink.remove(row)
    await alerts.evaluate(NOV.replace(hour=3), {})
    assert [(n.kind, n.group, n.spend_usd) for n in notifier.sent] == [
        (NotificationKind.THRESHOLD, "carol", 90),
        (NotificationKind.RESOLVED, "carol", 0),
    ]


async def test_send_resolved_false_keeps_quiet(sink: MemorySink, tmp_path: Path) -> None:
    """send_resolved = false: a downward revision sends nothing."""
    notifier = capture()
    alerts = engine(settings(budget(send_resolved=False)), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "60"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    sink.add(cost(NOV, "10"))
    await alerts.evaluate(NOV.replace(hour=3), {})
    assert [n.kind for n in notifier.sent] == [NotificationKind.THRESHOLD]


async def test_repeat_interval_reminds_while_over(sink: MemorySink, tmp_path: Path) -> None:
    """With repeat_interval = 6h the highest active threshold is re-sent every 6 hours."""
    notifier = capture()
    alerts = engine(settings(budget(repeat_interval="6h")), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "85"))
    for hour in (1, 4, 7, 12, 13):
        await alerts.evaluate(NOV.replace(hour=hour), {})
    assert [(n.threshold_percent, n.title.endswith("(reminder)")) for n in notifier.sent] == [
        (80, False),
        (80, True),
        (80, True),
    ]
    assert len(set(notifier.ids)) == 3


async def test_unpriced_model_notifies_once_per_model(sink: MemorySink, tmp_path: Path) -> None:
    """The first sighting of a model without a price notifies, also across restarts."""
    notifier = capture()
    config = settings(alerts=AlertSettings(unpriced_notify=["ops"]))
    sink.add(cost(NOV, "0", source=CostSource.UNPRICED, model="gpt-9", tokens=1200))
    first = engine(config, sink, notifier_map(notifier), tmp_path)
    await first.evaluate(NOV.replace(hour=2), {})
    await first.evaluate(NOV.replace(hour=3), {})
    first.close()
    await engine(config, sink, notifier_map(notifier), tmp_path).evaluate(NOV.replace(hour=4), {})
    (alert,) = notifier.sent
    assert alert.kind is NotificationKind.UNPRICED
    assert alert.details == {"model": "gpt-9", "tokens": "1200"}


async def test_stale_source_notifies_once_per_outage(sink: MemorySink, tmp_path: Path) -> None:
    """A provider without success for stale_after notifies once, and again after it
    recovered and went stale anew."""
    notifier = capture()
    config = settings(alerts=AlertSettings(stale_after="2h", stale_notify=["capture.ops"]))
    alerts = engine(config, sink, notifier_map(notifier), tmp_path)
    ok = NOV.replace(hour=1)
    await alerts.evaluate(NOV.replace(hour=2), {"openai.prod": ok})
    await alerts.evaluate(NOV.replace(hour=4), {"openai.prod": ok})
    await alerts.evaluate(NOV.replace(hour=5), {"openai.prod": ok})
    recovered = NOV.replace(hour=6)
    await alerts.evaluate(NOV.replace(hour=6, minute=5), {"openai.prod": recovered})
    await alerts.evaluate(NOV.replace(hour=9), {"openai.prod": recovered})
    assert [(n.kind, n.group) for n in notifier.sent] == [
        (NotificationKind.STALE, "openai.prod"),
        (NotificationKind.STALE, "openai.prod"),
    ]


async def test_never_successful_source_is_stale_after_the_grace_time(
    sink: MemorySink, tmp_path: Path
) -> None:
    """A provider that never succeeded is announced stale_after after it was first seen."""
    notifier = capture()
    config = settings(alerts=AlertSettings(stale_after="1h", stale_notify=["ops"]))
    alerts = engine(config, sink, notifier_map(notifier), tmp_path)
    await alerts.evaluate(NOV, {"anthropic.main": None})
    await alerts.evaluate(NOV + timedelta(minutes=30), {"anthropic.main": None})
    assert notifier.sent == []
    await alerts.evaluate(NOV + timedelta(hours=1), {"anthropic.main": None})
    assert [n.kind for n in notifier.sent] == [NotificationKind.STALE]


async def test_auth_error_is_not_retried_within_a_pass(sink: MemorySink, tmp_path: Path) -> None:
    """A refused credential fails the delivery at once; the next pass tries again."""
    notifier = capture()
    notifier.down = True
    notifier.failure = AuthError("refused")
    alerts = engine(settings(budget()), sink, notifier_map(notifier), tmp_path)
    sink.add(cost(NOV, "60"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    assert notifier.attempts == 1
    assert alerts.stats()["failed"] == 1
    notifier.down = False
    await alerts.deliver_pending()
    assert len(notifier.sent) == 1
    assert alerts.stats() == {"sent": 1, "failed": 0, "pending": 0, "rejected": 0}


async def test_one_failing_notifier_does_not_hold_back_another(
    sink: MemorySink, tmp_path: Path
) -> None:
    """Delivery is per notifier: a dead one leaves the other's messages alone."""
    good, bad = CapturingNotifier.create("capture.good"), CapturingNotifier.create("capture.bad")
    bad.down = True
    alerts = engine(
        settings(budget(notify=["good", "bad"])), sink, notifier_map(good, bad), tmp_path
    )
    sink.add(cost(NOV, "60"))
    await alerts.evaluate(NOV.replace(hour=2), {})
    assert len(good.sent) == 1
    assert bad.attempts == 2  # max_attempts
    assert alerts.stats() == {"sent": 1, "failed": 1, "pending": 0, "rejected": 0}


async def test_without_a_reader_budgets_are_skipped_with_one_warning(tmp_path: Path) -> None:
    """No readable store: budgets cannot run, which is logged once, not every pass."""
    alerts = AlertEngine(
        settings(budget()), None, {}, tmp_path, structlog.get_logger(), retry_delay=0.01
    )
    with capture_logs() as logs:
        await alerts.evaluate(NOV, {})
        await alerts.evaluate(NOV, {})
    assert [e["event"] for e in logs] == ["alerts_without_reader"]
