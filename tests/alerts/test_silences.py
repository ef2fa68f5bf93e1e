"""Silences and maintenance windows: matchers, the delivery gate, the silences file,
against the real webhook receiver through the alert engine's outbox."""

from __future__ import annotations

import dataclasses
import io
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from costpipe.alerts.maintenance import MaintenanceWindow
from costpipe.alerts.matchers import Operator, parse_matcher
from costpipe.alerts.silences import SilenceStore, alert_labels
from costpipe.alerts.suppression import Suppressor, Verdict
from costpipe.cli_alerts import list_alerts
from costpipe.config.operations import MaintenanceConfig
from costpipe.config.sections import PipelineSettings
from costpipe.notification import NotificationKind
from costpipe.testing import CapturingNotifier, MemorySink, sample_notification
from tests.alerts.conftest import (
    WebhookReceiver,
    budget,
    cost,
    engine,
    notifier_map,
    settings,
    webhook_notifier,
)

NOV = datetime(2026, 11, 10, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# -- matchers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("user_id=alice", {"user_id": "alice"}, True),
        ("user_id=alice", {"user_id": "alice2"}, False),
        ("user_id!=alice", {}, True),
        ("model=~gpt-5.*", {"model": "gpt-5-mini"}, True),
        ("model=~gpt-5", {"model": "gpt-5-mini"}, False),  # anchored, as in Alertmanager
        ("model!~gpt-5.*", {"model": "gpt-4o"}, True),
        ('team="data science"', {"team": "data science"}, True),
        ("team=", {}, True),
    ],
)
def test_matcher(text: str, labels: dict[str, str], expected: bool) -> None:
    assert expected == parse_matcher(text).matches(labels)


def test_matcher_parses_operators_longest_first() -> None:
    assert Operator.REGEX == parse_matcher("model=~x").operator
    assert Operator.NOT_EQUAL == parse_matcher("model!=x").operator


@pytest.mark.parametrize("text", ["model=~(", "no operator", "1abc=x", "=x"])
def test_bad_matcher_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"matcher|label name|regular expression"):
        parse_matcher(text)


def test_labels_of_a_grouped_budget_name_its_dimension() -> None:
    """A budget grouped by user_id gives user_id=<group>, so `user_id=alice` matches it."""
    labels = alert_labels(sample_notification(), {"monthly-openai": "user_id"})
    assert {
        "kind": "budget",
        "event": "threshold",
        "rule": "monthly-openai",
        "group": "alice",
        "user_id": "alice",
    } == labels


def test_labels_of_other_kinds_come_from_the_notification() -> None:
    """An anomaly brings its own labels; its kind is what it says."""
    anomaly = dataclasses.replace(
        sample_notification(),
        rule="spikes",
        labels={"kind": "anomaly", "model": "gpt-5", "user_id": "alice"},
    )
    labels = alert_labels(anomaly, {"monthly-openai": "user_id"})
    assert "anomaly" == labels["kind"]
    assert "gpt-5" == labels["model"]


# -- the silences file --------------------------------------------------------------------


def test_silences_are_durable_private_and_expire(tmp_path: Path) -> None:
    store = SilenceStore(tmp_path / "alerts")
    silence = store.add([parse_matcher("user_id=alice")], NOV, NOV + timedelta(hours=2), "loop")
    again = SilenceStore(tmp_path / "alerts")  # another process, say the daemon
    assert [silence.id] == [s.id for s in again.active(NOV + timedelta(hours=1))]
    assert [] == again.active(NOV + timedelta(hours=2))
    assert 0o600 == stat.S_IMODE(store.path.stat().st_mode)
    assert 0o700 == stat.S_IMODE(store.path.parent.stat().st_mode)
    ended = again.expire(silence.id, NOV + timedelta(minutes=5))
    assert ended is not None
    assert [] == store.active(NOV + timedelta(minutes=6))
    assert None is store.expire(silence.id, NOV + timedelta(minutes=7))


def test_a_reader_sees_every_change_another_process_commits(tmp_path: Path) -> None:
    """The daemon's store caches the silences, yet sees the CLI's add and unsilence at once."""
    daemon, cli = SilenceStore(tmp_path), SilenceStore(tmp_path)
    later = NOV + timedelta(minutes=1)
    assert [] == daemon.active(later)
    first = cli.add([parse_matcher("rule=a")], NOV, NOV + timedelta(hours=1), "")
    assert [first.id] == [s.id for s in daemon.active(later)]
    second = cli.add([parse_matcher("rule=b")], NOV, NOV + timedelta(hours=1), "")
    assert sorted([first.id, second.id]) == [s.id for s in daemon.active(later)]
    cli.expire(first.id, later)
    assert [second.id] == [s.id for s in daemon.active(later)]


def test_silence_round_trips_a_quoted_value(tmp_path: Path) -> None:
    """A value that contains quotes comes back exactly as it was set."""
    store = SilenceStore(tmp_path)
    store.add([parse_matcher("""user_id='"x"'""")], NOV, NOV + timedelta(hours=1), "")
    (silence,) = store.all()
    assert '"x"' == silence.matchers[0].value


# -- the gate through the engine and a real receiver -----------------------------------------


async def test_silence_suppresses_and_its_expiry_restores(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """While silenced, alice's alerts are kept as silenced and bob's go out; once the
    silence ends, alice's next alert is delivered again."""
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    config = settings(budget(group_by="user_id", notify=["hooks"], thresholds=[50, 80]))
    alerts = engine(config, sink, notifier_map(hook), tmp_path / "state")
    clock = Clock(NOV)
    store = SilenceStore(tmp_path / "state")
    alerts.outbox.gate = Suppressor(store, [], {"monthly": "user_id"}, clock)
    store.add([parse_matcher("user_id=alice")], NOV, NOV + timedelta(hours=3), "known loop")

    sink.add(cost(NOV, "60", user="alice"), cost(NOV, "60", user="bob"))
    clock.now = NOV + timedelta(hours=1)
    await alerts.evaluate(clock.now, {})
    assert [("bob", 50)] == [
        (r.json()["group"], r.json()["threshold_percent"]) for r in receiver.requests
    ]
    assert 1 == alerts.stats()["silenced"]

    clock.now = NOV + timedelta(hours=4)  # the silence has expired
    sink.add(cost(NOV + timedelta(hours=3), "25", user="alice"))
    await alerts.evaluate(clock.now, {})
    await hook.close()
    assert [("bob", 50), ("alice", 80)] == [
        (r.json()["group"], r.json()["threshold_percent"]) for r in receiver.requests
    ]
    # The silenced 50 % notice was not sent late.
    assert 1 == alerts.stats()["silenced"]
    alerts.close()


async def test_unsilence_restores_at_once(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    config = settings(budget(notify=["hooks"], thresholds=[50, 80]))
    alerts = engine(config, sink, notifier_map(hook), tmp_path / "state")
    clock = Clock(NOV)
    store = SilenceStore(tmp_path / "state")
    alerts.outbox.gate = Suppressor(store, [], {"monthly": None}, clock)
    silence = store.add([parse_matcher("rule=monthly")], NOV, NOV + timedelta(days=7), "")
    sink.add(cost(NOV, "60"))
    clock.now = NOV + timedelta(hours=1)
    await alerts.evaluate(clock.now, {})
    assert [] == receiver.requests
    store.expire(silence.id, clock.now)
    sink.add(cost(NOV + timedelta(hours=1), "25"))
    clock.now = NOV + timedelta(hours=2)
    await alerts.evaluate(clock.now, {})
    await hook.close()
    assert [80] == [r.json()["threshold_percent"] for r in receiver.requests]
    alerts.close()


def window(**fields: object) -> MaintenanceWindow:
    return MaintenanceWindow.from_config(MaintenanceConfig.model_validate({"name": "w", **fields}))


async def test_maintenance_window_holds_then_delivers(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """A notification inside a deliver window waits as held and goes out after it."""
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    alerts = engine(settings(budget(notify=["hooks"])), sink, notifier_map(hook), tmp_path / "s")
    clock = Clock(NOV)
    nightly = window(every="day", at="01:00", duration="2h", timezone="Europe/Paris")
    alerts.outbox.gate = Suppressor(
        SilenceStore(tmp_path / "s"), [nightly], {"monthly": None}, clock
    )
    sink.add(cost(NOV, "60"))
    clock.now = datetime(2026, 11, 10, 0, 30, tzinfo=UTC)  # 01:30 in Paris
    await alerts.evaluate(clock.now, {})
    assert [] == receiver.requests
    assert 1 == alerts.stats()["held"]
    clock.now = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 03:00 in Paris: closed
    await alerts.deliver_pending()
    await hook.close()
    assert [50] == [r.json()["threshold_percent"] for r in receiver.requests]
    alerts.close()


def test_drop_window_drops_and_only_matching_alerts_are_affected(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 12, 5, 23, 0, tzinfo=UTC))
    upgrade = window(
        start=datetime(2026, 12, 5, 22, 0),  # no offset: read in the window's zone
        end=datetime(2026, 12, 6, 2, 0),
        timezone="Europe/Paris",
        matchers=["kind=budget"],
        on_end="drop",
    )
    gate = Suppressor(SilenceStore(tmp_path), [upgrade], {"monthly-openai": None}, clock)
    assert Verdict.DROP == gate(sample_notification()).verdict
    assert Verdict.DELIVER == gate(sample_notification(NotificationKind.STALE)).verdict
    clock.now = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 02:00 in Paris: ended
    assert Verdict.DELIVER == gate(sample_notification()).verdict


def test_weekly_window_opens_on_its_local_weekdays() -> None:
    """Saturday 23:00 for 3 hours in Auckland runs into Sunday, local time."""
    weekend = window(
        every="week", weekdays=["saturday"], at="23:00", duration="3h", timezone="Pacific/Auckland"
    )
    assert (
        weekend.open_until(datetime(2026, 12, 5, 10, 30, tzinfo=UTC)) is not None
    )  # Sat 23:30 NZDT
    assert (
        weekend.open_until(datetime(2026, 12, 5, 12, 30, tzinfo=UTC)) is not None
    )  # Sun 01:30 NZDT
    assert weekend.open_until(datetime(2026, 12, 5, 13, 30, tzinfo=UTC)) is None  # Sun 02:30
    assert weekend.open_until(datetime(2026, 12, 4, 10, 30, tzinfo=UTC)) is None  # Fri 23:30


@pytest.mark.parametrize(
    "fields",
    [
        {"every": "day"},  # no duration
        {"every": "week", "duration": "1h"},  # no weekdays
        {"start": "2026-12-01T00:00:00Z"},  # no end
        {"every": "day", "duration": "1h", "at": "25:00"},
        {"every": "day", "duration": "1h", "matchers": ["not a matcher"]},
        {"every": "day", "duration": "1h", "matchers": ["model=~("]},
        {"every": "day", "duration": "1h", "timezone": "Mars/Olympus"},
    ],
)
def test_bad_window_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MaintenanceConfig.model_validate({"name": "w", **fields})


async def test_alerts_list_states_follow_the_budget_slots(sink: MemorySink, tmp_path: Path) -> None:
    """firing while a slot is active, resolved after a resolved notice, ended once the
    period is over; silenced rows show the silence, the JSON and the table agree."""
    capture = CapturingNotifier.create("capture.ops")
    config = settings(budget(group_by="user_id", thresholds=[50]))
    config.pipeline = PipelineSettings(state_dir=tmp_path / "state")
    alerts = engine(config, sink, notifier_map(capture), tmp_path / "state" / "alerts")
    sink.add(cost(NOV, "60", user="alice"), cost(NOV, "70", user="bob", item="b"))
    sink.add(cost(NOV, "80", user="eve\x1b[2J\r\nx", item="e"))
    await alerts.evaluate(NOV + timedelta(hours=1), {})
    sink.add(cost(NOV, "10", user="bob", item="b"))  # revised under the threshold
    await alerts.evaluate(NOV + timedelta(hours=2), {})

    def listed(now: datetime) -> dict[str, str]:
        out = io.StringIO()
        assert 0 == list_alerts(config, out, "json", now)
        return {a["group"]: a["state"] for a in json.loads(out.getvalue())["alerts"]}

    hostile = "eve\x1b[2J\r\nx"
    assert {"alice": "firing", "bob": "resolved", hostile: "firing"} == listed(
        NOV + timedelta(hours=2)
    )
    await alerts.evaluate(datetime(2026, 12, 1, 1, tzinfo=UTC), {})  # a new month
    alerts.close()
    assert {"alice": "ended", "bob": "resolved", hostile: "ended"} == listed(
        datetime(2026, 12, 1, 1, tzinfo=UTC)
    )
    table = io.StringIO()
    list_alerts(config, table, "table", datetime(2026, 12, 1, 1, tzinfo=UTC))
    assert "ended" in table.getvalue()
    assert "\x1b" not in table.getvalue()
    assert "eve [2J x" in table.getvalue()  # one line, no escape sequence
