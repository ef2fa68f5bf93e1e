"""The Teams and PagerDuty notifiers: the shared contract, then each service's payload
shape against a receiver that checks its documented schema."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from costpipe.components import ComponentContext
from costpipe.errors import CostpipeError
from costpipe.notification import NotificationKind, Table
from costpipe.notifiers.pagerduty import MAX_SUMMARY, PagerDutyConfig, PagerDutyNotifier
from costpipe.notifiers.teams import TeamsConfig, TeamsNotifier, markdown_text
from costpipe.testing import NotifierContract, sample_notification
from costpipe.testing.network import free_port
from tests.alerts.service_receivers import (
    ROUTING_KEY,
    TEAMS_SIG,
    ServiceReceiver,
    pagerduty_errors,
    teams_errors,
)


@pytest.fixture
async def service() -> AsyncIterator[ServiceReceiver]:
    server = ServiceReceiver()
    await server.start()
    yield server
    await server.stop()


def teams(url: str, tmp_path: Path) -> TeamsNotifier:
    config = TeamsConfig.model_validate({"url": url, "timeout": "5s"})
    return TeamsNotifier(config, ComponentContext(instance="teams.finops", state_dir=tmp_path))


def pagerduty(url: str, tmp_path: Path, **extra: Any) -> PagerDutyNotifier:
    config = PagerDutyConfig.model_validate(
        {"routing_key": ROUTING_KEY, "url": url, "timeout": "5s", **extra}
    )
    return PagerDutyNotifier(
        config, ComponentContext(instance="pagerduty.oncall", state_dir=tmp_path)
    )


class TestTeamsNotifier(NotifierContract):
    @pytest.fixture
    async def notifier(
        self, service: ServiceReceiver, tmp_path: Path
    ) -> AsyncIterator[TeamsNotifier]:
        notifier = teams(service.teams_url, tmp_path)
        await notifier.start()
        yield notifier
        await notifier.close()

    @pytest.fixture
    def delivered(self, service: ServiceReceiver) -> Callable[[], Awaitable[list[str]]]:
        async def ids() -> list[str]:
            assert [] == service.refused
            return service.card_ids

        return ids

    @pytest.fixture
    async def unreachable_notifier(self, tmp_path: Path) -> AsyncIterator[TeamsNotifier]:
        notifier = teams(f"http://127.0.0.1:{free_port()}/workflows/f?{TEAMS_SIG}", tmp_path)
        await notifier.start()
        yield notifier
        await notifier.close()

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [TEAMS_SIG]


class TestPagerDutyNotifier(NotifierContract):
    @pytest.fixture
    async def notifier(
        self, service: ServiceReceiver, tmp_path: Path
    ) -> AsyncIterator[PagerDutyNotifier]:
        notifier = pagerduty(service.pagerduty_url, tmp_path)
        await notifier.start()
        yield notifier
        await notifier.close()

    @pytest.fixture
    def delivered(self, service: ServiceReceiver) -> Callable[[], Awaitable[list[str]]]:
        async def ids() -> list[str]:
            assert [] == service.refused
            return service.event_ids

        return ids

    @pytest.fixture
    async def unreachable_notifier(self, tmp_path: Path) -> AsyncIterator[PagerDutyNotifier]:
        notifier = pagerduty(f"http://127.0.0.1:{free_port()}/v2/enqueue", tmp_path)
        await notifier.start()
        yield notifier
        await notifier.close()


# -- the receivers' checks can fail ------------------------------------------------------


def test_the_schema_checks_refuse_what_the_services_refuse() -> None:
    """The checks behind the receivers are not vacuous: each rule catches its mistake."""
    good = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "costpipe", "severity": "error"},
    }
    assert [] == pagerduty_errors(good)
    assert pagerduty_errors({**good, "routing_key": "short"})
    assert pagerduty_errors({**good, "event_action": "fire"})
    assert pagerduty_errors({**good, "payload": {**good["payload"], "summary": "x" * 1025}})
    assert pagerduty_errors({**good, "payload": {**good["payload"], "severity": "high"}})
    assert pagerduty_errors({"routing_key": ROUTING_KEY, "event_action": "resolve"})
    assert pagerduty_errors({**good, "extra": 1})
    card = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "x"}]}
    message = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }
    assert [] == teams_errors(message)
    assert teams_errors({**message, "type": "MessageCard"})
    assert teams_errors({"type": "message", "attachments": [{"content": card}]})
    assert teams_errors(
        {
            "type": "message",
            "attachments": [{**message["attachments"][0], "content": {**card, "version": "1.6"}}],
        }  # type: ignore[dict-item]
    )
    assert teams_errors(
        {
            "type": "message",
            "attachments": [
                {**message["attachments"][0], "content": {**card, "body": [{"type": "Table"}]}}  # type: ignore[dict-item]
            ],
        }
    )


# -- PagerDuty --------------------------------------------------------------------------


async def test_pagerduty_alert_and_its_resolution_share_one_dedup_key(
    service: ServiceReceiver, tmp_path: Path
) -> None:
    """A threshold triggers, a reminder updates the same incident, resolved resolves it."""
    notifier = pagerduty(service.pagerduty_url, tmp_path, severity="critical")
    fired = sample_notification(NotificationKind.THRESHOLD, "fire-1")
    again = dataclasses.replace(fired, id="fire-2", threshold_percent=100)
    resolved = sample_notification(NotificationKind.RESOLVED, "resolved-1")
    other_group = dataclasses.replace(fired, id="fire-3", group="bob")
    for notification in (fired, again, resolved, other_group):
        await notifier.send(notification)
    await notifier.close()

    actions = [(e["event_action"], e["dedup_key"]) for e in service.events]
    assert ["trigger", "trigger", "resolve", "trigger"] == [a for a, _ in actions]
    assert actions[0][1] == actions[1][1] == actions[2][1]
    assert actions[3][1] != actions[0][1]
    first = service.events[0]["payload"]
    assert "critical" == first["severity"]
    assert "monthly-openai" == first["component"]
    assert "alice" == first["group"]
    assert "$812.40" == first["custom_details"]["Spend"]


async def test_pagerduty_summary_is_cut_to_1024_characters(
    service: ServiceReceiver, tmp_path: Path
) -> None:
    """A title built from a huge provider name still makes a valid event."""
    notifier = pagerduty(service.pagerduty_url, tmp_path)
    long = dataclasses.replace(sample_notification(), title="Budget " + "u" * 5000)
    await notifier.send(long)
    await notifier.close()
    (event,) = service.events
    assert MAX_SUMMARY == len(event["payload"]["summary"])
    assert event["payload"]["summary"].endswith("…")


async def test_pagerduty_news_are_info_events_of_their_own(
    service: ServiceReceiver, tmp_path: Path
) -> None:
    """Digests and test messages never merge into an alert's incident."""
    notifier = pagerduty(service.pagerduty_url, tmp_path)
    digest = sample_notification(NotificationKind.DIGEST, "digest-1")
    await notifier.send(sample_notification())
    await notifier.send(digest)
    await notifier.close()
    alert, news = service.events
    assert "info" == news["payload"]["severity"]
    assert alert["dedup_key"] != news["dedup_key"]


async def test_pagerduty_invalid_event_is_not_retried(tmp_path: Path) -> None:
    """A 400 (the receiver refuses the routing key's shape) is a permanent error."""
    server = ServiceReceiver()
    await server.start()
    config = PagerDutyConfig.model_validate(
        {"routing_key": "too-short", "url": server.pagerduty_url}
    )
    notifier = PagerDutyNotifier(
        config, ComponentContext(instance="pagerduty.x", state_dir=tmp_path)
    )
    try:
        with pytest.raises(CostpipeError) as caught:
            await notifier.send(sample_notification())
    finally:
        await notifier.close()
        await server.stop()
    assert not caught.value.retryable
    assert "400" in str(caught.value)
    assert ["routing_key must be a 32-character string"] == server.refused[0]


# -- Teams ------------------------------------------------------------------------------


def _texts(node: Any) -> list[str]:
    """Every text a card shows: TextBlock texts and fact titles and values."""
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    if not isinstance(node, dict):
        return []
    found = [node[k] for k in ("text", "title", "value") if isinstance(node.get(k), str)]
    return found + [t for v in node.values() if isinstance(v, list | dict) for t in _texts(v)]


async def test_teams_card_shows_provider_text_as_written(
    service: ServiceReceiver, tmp_path: Path
) -> None:
    """A Markdown link in a user name is escaped, never rendered as a link."""
    notifier = teams(service.teams_url, tmp_path)
    hostile = dataclasses.replace(
        sample_notification(),
        group="[click me](https://evil.example/steal)",
        tables=(Table("Top user_id", ("user_id", "spend"), (("**boss**", "$1.00"),)),),
    )
    await notifier.send(hostile)
    await notifier.close()
    (message,) = service.cards
    card = message["attachments"][0]["content"]
    text = "\n".join(_texts(card["body"]))
    assert "[click me](https://evil.example/steal)" not in text
    assert markdown_text("[click me](https://evil.example/steal)") in text
    assert "\\*\\*boss\\*\\*" in text
    assert [
        {
            "type": "Action.OpenUrl",
            "title": "Open dashboard",
            "url": "http://127.0.0.1:5006/costpipe",
        }
    ] == card["actions"]


async def test_teams_wrong_signature_is_an_auth_error(
    service: ServiceReceiver, tmp_path: Path
) -> None:
    """A flow URL with a wrong sig= is refused (401), as a needs-a-human error."""
    notifier = teams(f"http://127.0.0.1:{service.port}/workflows/f?sig=wrong", tmp_path)
    with pytest.raises(CostpipeError) as caught:
        await notifier.send(sample_notification())
    await notifier.close()
    assert not caught.value.retryable
