"""Anomaly rules over the simulator's history, fetched by the real pipeline into
SQLite and announced through a real SMTP server and a real webhook receiver."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from costpipe.alerts.matchers import parse_matcher
from costpipe.alerts.silences import SilenceStore
from costpipe.query.api import Basis, CostQuery
from tests.alerts.conftest import SmtpServer, WebhookReceiver
from tests.anomalies.conftest import NOW, MakeStore, day_spike, notifier_tables

pytestmark = pytest.mark.slow

TODAY = NOW.replace(hour=0, minute=30) - timedelta(minutes=30)


def per_user(**overrides: Any) -> dict[str, Any]:
    rule = {
        "name": "per-user",
        "group_by": "user_id",
        "cost_basis": "estimated",
        "notify": ["ops", "hooks"],
    }
    rule.update(overrides)
    return rule


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def detected(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "Anomaly detected"]


async def test_an_8x_user_day_fires_one_anomaly_naming_the_user_and_the_model(
    simulated_store: MakeStore, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    store = await simulated_store()
    user = store.simulator.openai.org.user_ids[0]
    await store.backfill(TODAY, NOW)  # nothing changes without the spike
    store.simulator.spikes.add(day_spike("user_id", user, 8, TODAY))
    await store.backfill(TODAY, NOW)  # the day is fetched again, now 8x for one user
    settings = store.settings([per_user()], notifier_tables(smtp_server.port, receiver.url))
    async with store.runner(settings, lambda: NOW) as runner:
        with capture_logs() as logs:
            await runner.evaluate_alerts()
        assert await runner.deliver_pending_alerts()
        reader = runner.alerts.reader  # type: ignore[union-attr]
        spent = await reader.total(CostQuery(TODAY, NOW, Basis.ESTIMATED, {"user_id": (user,)}))

    [fired] = detected(logs)
    assert (user, "day:2026-11-20") == (fired["group"], fired["bucket"])
    [hook] = receiver.requests
    body = hook.json()
    assert ("anomaly", "per-user", user) == (body["kind"], body["rule"], body["group"])
    assert spent == Decimal(body["spend_usd"]) == Decimal(body["details"]["observed_usd"])
    expected = Decimal(body["details"]["expected_usd"])
    assert Decimal(6) < spent / expected < Decimal(10)
    # The model this user's spike went through is named, with dollars, first among models.
    models = {s.model for s in store.simulator.openai.streams if s.user_id == user}
    contributors = body["details"]["contributors"]
    named = [m for m in models if f"model {m} +$" in contributors]
    assert named, contributors
    [table] = body["tables"]
    assert "model" in {row[0] for row in table["rows"]}
    assert body["dashboard_url"].startswith("http://127.0.0.1:5006/costpipe?")
    assert "user_id=" in body["dashboard_url"]
    [mail] = smtp_server.inbox.messages
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert user in text
    assert named[0] in text
    assert "Anomaly rule: per-user" in text
    assert "Budget" not in text
    assert mail["X-Costpipe-Notification-Id"] == body["id"]


async def test_a_restart_re_sends_nothing(
    simulated_store: MakeStore, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    """The same bucket judged by a new daemon, an hour later and the next day
    (when it is the latest complete day) is known to have fired."""
    store = await simulated_store()
    user = store.simulator.openai.org.user_ids[1]
    user_spike = day_spike("user_id", user, 8, TODAY)
    store.simulator.spikes.add(user_spike)
    await store.backfill(TODAY, NOW)
    settings = store.settings([per_user()], notifier_tables(smtp_server.port, receiver.url))
    fired: list[MutableMapping[str, Any]] = []
    for now in (NOW, NOW, NOW + timedelta(hours=1), NOW + timedelta(days=1)):
        async with store.runner(settings, _fixed(now)) as runner:  # a new process
            with capture_logs() as logs:
                await runner.evaluate_alerts()
            assert await runner.deliver_pending_alerts()
        fired += detected(logs)
    assert [user] == [e["group"] for e in fired]
    assert 1 == len(smtp_server.inbox.messages)
    assert 1 == len(receiver.requests)


async def test_a_clean_30_day_history_fires_nothing_with_the_defaults(
    simulated_store: MakeStore, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    """The default rule (sensitivity, min_increase_usd, baseline) in its shapes
    (total, per user, key and model), judged at noon of each of the last 15 days
    (the day before complete, the day so far growing): not one anomaly. The
    basis is the estimated one: the simulator's invoice has no user or key."""
    store = await simulated_store()
    rules = [{"name": "total", "cost_basis": "estimated", "notify": ["ops"]}] + [
        {"name": f"per-{dim}", "group_by": dim, "cost_basis": "estimated", "notify": ["hooks"]}
        for dim in ("user_id", "api_key_id", "model")
    ]
    settings = store.settings(rules, notifier_tables(smtp_server.port, receiver.url))
    moments = sorted(NOW.replace(hour=12) - timedelta(days=d) for d in range(15))
    clock = iter(moments)
    async with store.runner(settings, lambda: next(clock)) as runner:
        with capture_logs() as logs:
            for _ in moments:
                await runner.evaluate_alerts()
            assert await runner.deliver_pending_alerts()
    assert [] == detected(logs)
    assert [] == [e for e in logs if e["event"] == "anomaly_evaluation_failed"]
    assert [] == smtp_server.inbox.messages
    assert [] == receiver.requests


async def test_spend_back_inside_the_band_sends_one_resolved_notice(
    simulated_store: MakeStore, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    store = await simulated_store()
    user = store.simulator.openai.org.user_ids[0]
    store.simulator.spikes.add(day_spike("user_id", user, 8, TODAY))
    await store.backfill(TODAY, NOW)
    settings = store.settings([per_user()], notifier_tables(smtp_server.port, receiver.url))
    async with store.runner(settings, lambda: NOW) as runner:
        await runner.evaluate_alerts()
        store.simulator.spikes.clear()  # the provider revises the day: the spike is gone
        await runner.backfill(TODAY, NOW)
        await runner.evaluate_alerts()
        await runner.evaluate_alerts()
        assert await runner.deliver_pending_alerts()
    assert ["anomaly", "anomaly_resolved"] == [r.json()["kind"] for r in receiver.requests]
    assert {user} == {r.json()["group"] for r in receiver.requests}


async def test_a_silence_on_the_user_drops_the_anomaly_and_its_end_restores_delivery(
    simulated_store: MakeStore, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    """Anomalies carry their group as a label: ``user_id=<user>`` silences them."""
    store = await simulated_store()
    first, second = store.simulator.openai.org.user_ids[:2]
    store.simulator.spikes.add(day_spike("user_id", first, 8, TODAY))
    await store.backfill(TODAY, NOW)
    settings = store.settings([per_user()], notifier_tables(smtp_server.port, receiver.url))
    silences = SilenceStore(settings.pipeline.state_dir / "alerts")
    real_now = datetime.now(UTC)
    silence = silences.add(
        [parse_matcher(f"user_id={first}"), parse_matcher("kind=anomaly")],
        real_now,
        real_now + timedelta(hours=1),
        "known batch job",
    )
    async with store.runner(settings, lambda: NOW) as runner:
        with capture_logs() as logs:
            await runner.evaluate_alerts()
        await runner.deliver_pending_alerts()
        assert [first] == [e["group"] for e in detected(logs)]
        assert [] == receiver.requests
        silences.expire(silence.id, datetime.now(UTC))
        # The next anomaly (another user, later that day) is delivered again.
        store.simulator.spikes.add(day_spike("user_id", second, 8, TODAY))
        await runner.backfill(TODAY, NOW)
        await runner.evaluate_alerts()
        assert await runner.deliver_pending_alerts()
    assert [second] == [r.json()["group"] for r in receiver.requests]
