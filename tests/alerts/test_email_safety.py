"""Hostile text in notifications and SMTP settings that point the wrong way, against
a real SMTP server (aiosmtpd) and a real webhook receiver.

* A user id with CR/LF (``u1\\r\\nBcc: attacker@...``) used to make the email
  unbuildable; the notification then failed on every pass and every later email
  of that notifier stayed pending behind it. Header values are now one clean
  line, and a message that truly cannot be built is ``rejected`` once and
  skipped.
* STARTTLS against a server that does not offer it said "unreachable".
* A password sent without TLS is warned about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.errors import CostpipeError, TransientError
from costpipe.notifiers.email import EmailConfig, EmailNotifier
from costpipe.testing import MemorySink
from costpipe.testing.notifier_contract import sample_notification
from tests.alerts.conftest import (
    Inbox,
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
HOSTILE_USER = "u1\r\nBcc: attacker@example.org"


async def test_hostile_user_id_is_delivered_with_a_clean_subject_and_no_injected_header(
    sink: MemorySink, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    mail = email_notifier(smtp_server.port, tmp_path)
    rule = budget(group_by="user_id", thresholds=[80], amount_usd=10)
    alerts = engine(settings(rule), sink, notifier_map(mail), tmp_path / "state")
    sink.add(cost(NOV, "9", user=HOSTILE_USER))
    await alerts.evaluate(NOV + timedelta(hours=1), {})

    (message,) = smtp_server.inbox.messages
    subject = str(message["Subject"])
    assert "[costpipe] Budget monthly (u1 Bcc: attacker@example.org) reached 80 %" == subject
    assert [] == [name for name in message if name.lower() in ("bcc", "cc")]
    assert "finance@example.org, ops@example.org" == message["To"]
    assert {"sent": 1, "failed": 0, "pending": 0, "rejected": 0} == alerts.stats()


def unbuildable(index: int) -> object:
    """A notification whose text holds a lone surrogate (JSON may carry one as
    ``"\\udcff"``): no email or UTF-8 body can be made of it."""
    return dataclasses.replace(
        sample_notification(id=f"bad-{index}"), summary="spent on model x\udcffy"
    )


async def test_unbuildable_email_is_rejected_once_and_the_next_seven_are_delivered(
    sink: MemorySink, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    mail = email_notifier(smtp_server.port, tmp_path)
    alerts = engine(settings(), sink, notifier_map(mail), tmp_path / "state")
    good = [sample_notification(id=f"good-{i}") for i in range(7)]
    for notification in [unbuildable(0), *good]:
        alerts.outbox.enqueue(notification, ["email.ops"], NOV)  # type: ignore[arg-type]

    with capture_logs() as first:
        await alerts.deliver_pending()
    with capture_logs() as second:
        await alerts.deliver_pending()

    assert [n.id for n in good] == smtp_server.inbox.ids
    assert {"sent": 7, "failed": 0, "pending": 0, "rejected": 1} == alerts.stats()
    ((notification, target, reason),) = alerts.outbox.rejected()
    assert ("bad-0", "email.ops") == (notification, target)
    assert "cannot be built as an email (UnicodeEncodeError)" in reason
    assert ["notification_rejected"] == [e["event"] for e in first if e["log_level"] == "error"]
    assert [] == [e for e in second if e["log_level"] in ("error", "warning")]


async def test_unbuildable_webhook_body_is_rejected_and_the_next_ones_are_delivered(
    sink: MemorySink, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    hook = webhook_notifier(receiver.url, tmp_path)
    await hook.start()
    alerts = engine(settings(), sink, notifier_map(hook), tmp_path / "state")
    good = [sample_notification(id=f"good-{i}") for i in range(7)]
    for notification in [unbuildable(0), *good]:
        alerts.outbox.enqueue(notification, ["webhook.hooks"], NOV)  # type: ignore[arg-type]
    await alerts.deliver_pending()
    await alerts.deliver_pending()
    await hook.close()
    assert [n.id for n in good] == receiver.ids
    assert {"sent": 7, "failed": 0, "pending": 0, "rejected": 1} == alerts.stats()


# -- STARTTLS and plain-text passwords ---------------------------------------------------


@pytest.fixture
def plain_smtp() -> Iterator[int]:
    """aiosmtpd without a TLS context: its EHLO offers no STARTTLS."""
    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def starttls_notifier(port: int, tmp_path: Path) -> EmailNotifier:
    config = EmailConfig(
        host="127.0.0.1",
        port=port,
        from_addr="costpipe@example.org",
        to=["ops@example.org"],
        timeout=timedelta(seconds=5),
    )
    assert config.starttls  # the default
    return EmailNotifier(config, ComponentContext(instance="email.ops", state_dir=tmp_path))


async def test_starttls_not_offered_names_the_cause_and_the_setting(
    plain_smtp: int, tmp_path: Path
) -> None:
    notifier = starttls_notifier(plain_smtp, tmp_path)
    for attempt in (notifier.send(sample_notification()), notifier.check_connection()):
        with pytest.raises(CostpipeError) as caught:
            await attempt
        message = str(caught.value)
        assert "unreachable" not in message
        assert "does not offer STARTTLS" in message
        assert "starttls = false" in message
        assert "tls = true" in message
        # Retrying cannot help: the configuration must change.
        assert not isinstance(caught.value, TransientError)


async def test_unreachable_server_is_still_reported_as_unreachable(tmp_path: Path) -> None:
    notifier = starttls_notifier(free_port(), tmp_path)
    with pytest.raises(TransientError, match="unreachable"):
        await notifier.send(sample_notification())


async def test_password_without_tls_warns_once_at_start(tmp_path: Path) -> None:
    plain = email_notifier(free_port(), tmp_path)  # login, starttls = false
    secured = EmailNotifier(plain.config.model_copy(update={"starttls": True}), plain.context)
    anonymous = email_notifier(free_port(), tmp_path, login=False)
    with capture_logs() as logs:
        await plain.start()
    with capture_logs() as quiet:
        await secured.start()
        await anonymous.start()
    assert [("smtp_password_without_tls", "warning")] == [
        (e["event"], e["log_level"]) for e in logs
    ]
    assert "smtp-pass" not in str(logs)
    assert [] == quiet
