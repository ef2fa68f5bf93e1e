"""The alert engine end to end, against a real SMTP server and a real webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from structlog.testing import capture_logs

from costpipe.testing import MemorySink
from tests.alerts.conftest import (
    DASHBOARD,
    SMTP_PASSWORD,
    WEBHOOK_TOKEN,
    SmtpServer,
    WebhookReceiver,
    budget,
    cost,
    email_notifier,
    engine,
    free_port,
    notifier_map,
    settings,
    webhook_notifier,
)

NOV = datetime(2026, 11, 10, tzinfo=UTC)


async def test_crossing_50_80_100_sends_three_per_notifier(
    sink: MemorySink, smtp_server: SmtpServer, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """Three passes crossing 50, 80 and 100 % send exactly three messages per notifier."""
    mail = email_notifier(smtp_server.port, tmp_path)
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    alerts = engine(
        settings(budget(notify=["email.ops", "hooks"])),
        sink,
        notifier_map(mail, hook),
        tmp_path / "state",
    )
    for hour, usd in enumerate(["55", "30", "20", "0"]):
        sink.add(cost(NOV.replace(hour=hour), usd))
        await alerts.evaluate(NOV.replace(hour=hour + 1), {})
    await hook.close()

    assert len(smtp_server.inbox.messages) == 3
    assert len(receiver.requests) == 3
    assert [r.json()["threshold_percent"] for r in receiver.requests] == [50, 80, 100]
    assert smtp_server.inbox.ids == receiver.ids
    assert len(set(receiver.ids)) == 3
    assert alerts.stats() == {"sent": 6, "failed": 0, "pending": 0, "rejected": 0}


async def test_restart_between_passes_sends_no_duplicate(
    sink: MemorySink, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A new engine on the same state dir remembers what it already sent."""
    mail = email_notifier(smtp_server.port, tmp_path)
    config = settings(budget())
    for hour, usd in enumerate(["55", "0", "30", "0"]):
        sink.add(cost(NOV.replace(hour=hour), usd))
        alerts = engine(config, sink, notifier_map(mail), tmp_path / "state")
        await alerts.evaluate(NOV.replace(hour=hour + 1), {})
        alerts.close()

    assert [m["Subject"] for m in smtp_server.inbox.messages] == [
        "[costpipe] Budget monthly reached 50 %",
        "[costpipe] Budget monthly reached 80 %",
    ]


async def test_smtp_down_for_two_passes_delivers_once_later(
    sink: MemorySink, smtp_down: SmtpServer, tmp_path: Path
) -> None:
    """An email that cannot be sent stays failed, then goes out exactly once."""
    mail = email_notifier(smtp_down.port, tmp_path)
    alerts = engine(settings(budget()), sink, notifier_map(mail), tmp_path / "state")
    sink.add(cost(NOV, "60"))
    with capture_logs() as logs:
        await alerts.evaluate(NOV.replace(hour=1), {})
        await alerts.evaluate(NOV.replace(hour=2), {})
    assert alerts.stats() == {"sent": 0, "failed": 1, "pending": 0, "rejected": 0}
    failures = [e for e in logs if e["event"] == "notification_failed"]
    assert [e["attempts"] for e in failures] == [2, 4]

    smtp_down.start()
    await alerts.evaluate(NOV.replace(hour=3), {})
    await alerts.evaluate(NOV.replace(hour=4), {})
    await alerts.deliver_pending()

    assert len(smtp_down.inbox.messages) == 1
    assert alerts.stats() == {"sent": 1, "failed": 0, "pending": 0, "rejected": 0}


async def test_failed_delivery_survives_restart(
    sink: MemorySink, smtp_down: SmtpServer, tmp_path: Path
) -> None:
    """A notification stored while SMTP is down is delivered by the next process."""
    mail = email_notifier(smtp_down.port, tmp_path)
    config = settings(budget())
    sink.add(cost(NOV, "90"))
    first = engine(config, sink, notifier_map(mail), tmp_path / "state")
    await first.evaluate(NOV.replace(hour=1), {})
    first.close()

    smtp_down.start()
    second = engine(config, sink, notifier_map(mail), tmp_path / "state")
    await second.deliver_pending()

    assert len(smtp_down.inbox.messages) == 1
    assert "80 %" in str(smtp_down.inbox.messages[0]["Subject"])


async def test_webhook_signature_verifies_and_body_is_documented_json(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """The receiver can verify X-Costpipe-Signature over the raw body."""
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    alerts = engine(settings(budget(notify=["hooks"])), sink, notifier_map(hook), tmp_path / "s")
    sink.add(cost(NOV, "81.239"))
    await alerts.evaluate(NOV.replace(hour=1), {})
    await hook.close()

    (request,) = receiver.requests
    assert receiver.signature_valid(request)
    body = request.json()
    assert body["id"] == request.headers["Idempotency-Key"]
    assert body["spend_usd"] == "81.239"
    assert body["budget_usd"] == "100"
    assert body["kind"] == "threshold"
    assert body["dashboard_url"] == DASHBOARD
    assert request.headers["X-Team"] == "finops"


async def test_webhook_retries_a_503_within_one_pass(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    """A transient 503 is retried with backoff and delivered once."""
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    alerts = engine(settings(budget(notify=["hooks"])), sink, notifier_map(hook), tmp_path / "s")
    receiver.fail_next = 1
    sink.add(cost(NOV, "51"))
    await alerts.evaluate(NOV.replace(hour=1), {})
    await hook.close()
    assert len(receiver.requests) == 1


async def test_secrets_never_in_logs(
    sink: MemorySink, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Neither the SMTP password nor a webhook URL appear in any log line, even on failure."""
    mail = email_notifier(smtp_server.port, tmp_path)
    dead_hook = webhook_notifier(
        f"http://127.0.0.1:{free_port()}/services/{WEBHOOK_TOKEN}", tmp_path
    )
    await dead_hook.start()
    alerts = engine(
        settings(budget(notify=["ops", "hooks"])),
        sink,
        notifier_map(mail, dead_hook),
        tmp_path / "state",
    )
    sink.add(cost(NOV, "120"))
    with capture_logs() as logs:
        await alerts.evaluate(NOV.replace(hour=1), {})
        await alerts.deliver_pending()
    await dead_hook.close()

    assert smtp_server.inbox.logins == ["alerts"]
    assert any(e["event"] == "notification_failed" for e in logs)
    text = repr(logs)
    assert SMTP_PASSWORD not in text
    assert WEBHOOK_TOKEN not in text
