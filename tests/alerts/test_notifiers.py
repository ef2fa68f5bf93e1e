"""The email and webhook notifiers: the shared contract, then their own formats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.errors import AuthError, CostpipeError
from costpipe.notification import NotificationKind
from costpipe.notifiers.email import EmailConfig, EmailNotifier
from costpipe.notifiers.webhook import WebhookConfig, WebhookNotifier
from costpipe.plugins import build_plugin_manager
from costpipe.testing import NotifierContract, sample_notification
from tests.alerts.conftest import (
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    WEBHOOK_TOKEN,
    SmtpServer,
    WebhookReceiver,
    email_notifier,
    free_port,
    webhook_notifier,
)


class TestEmailNotifier(NotifierContract):
    @pytest.fixture
    async def notifier(
        self, smtp_server: SmtpServer, tmp_path: Path
    ) -> AsyncIterator[EmailNotifier]:
        notifier = email_notifier(smtp_server.port, tmp_path)
        await notifier.start()
        yield notifier
        await notifier.close()

    @pytest.fixture
    def delivered(self, smtp_server: SmtpServer) -> Callable[[], Awaitable[list[str]]]:
        async def ids() -> list[str]:
            return smtp_server.inbox.ids

        return ids

    @pytest.fixture
    async def unreachable_notifier(self, tmp_path: Path) -> EmailNotifier:
        return email_notifier(free_port(), tmp_path)

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [SMTP_PASSWORD]


class TestJsonWebhookNotifier(NotifierContract):
    @pytest.fixture
    async def notifier(
        self, receiver: WebhookReceiver, tmp_path: Path
    ) -> AsyncIterator[WebhookNotifier]:
        notifier = webhook_notifier(receiver.url, tmp_path)
        await notifier.start()
        yield notifier
        await notifier.close()

    @pytest.fixture
    def delivered(self, receiver: WebhookReceiver) -> Callable[[], Awaitable[list[str]]]:
        async def ids() -> list[str]:
            return receiver.ids

        return ids

    @pytest.fixture
    async def unreachable_notifier(self, tmp_path: Path) -> AsyncIterator[WebhookNotifier]:
        notifier = webhook_notifier(
            f"http://127.0.0.1:{free_port()}/services/{WEBHOOK_TOKEN}", tmp_path
        )
        await notifier.start()
        yield notifier
        await notifier.close()

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [WEBHOOK_TOKEN, WEBHOOK_SECRET]


class TestSlackWebhookNotifier(TestJsonWebhookNotifier):
    @pytest.fixture
    async def notifier(
        self, receiver: WebhookReceiver, tmp_path: Path
    ) -> AsyncIterator[WebhookNotifier]:
        notifier = webhook_notifier(receiver.url, tmp_path, fmt="slack")
        await notifier.start()
        yield notifier
        await notifier.close()


# -- email ----------------------------------------------------------------------------


async def test_email_has_text_and_html_with_figures_and_link(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Both bodies carry spend, budget, forecast and the dashboard link; HTML is escaped."""
    notifier = email_notifier(smtp_server.port, tmp_path)
    await notifier.send(sample_notification())
    (message,) = smtp_server.inbox.messages
    assert message["To"] == "finance@example.org, ops@example.org"
    assert message["Message-ID"] == "<contract-0001@costpipe>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain, markup = text.get_content(), html.get_content()
    for figure in ("$812.40", "$1,000.00", "$1,301.20", "2026-11-25"):
        assert figure in plain
        assert figure in markup
    assert "Dashboard: http://127.0.0.1:5006/costpipe" in plain
    assert '<a href="http://127.0.0.1:5006/costpipe">' in markup
    assert "gpt-4o &lt;&amp;&gt;" in markup


async def test_email_check_connection_logs_in_and_sends_nothing(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    notifier = email_notifier(smtp_server.port, tmp_path)
    answer = await notifier.check_connection()
    assert answer == f"SMTP 127.0.0.1:{smtp_server.port} accepted EHLO, login"
    assert smtp_server.inbox.logins == ["alerts"]
    assert smtp_server.inbox.messages == []


async def test_email_wrong_password_is_an_auth_error(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A refused login raises AuthError, which the outbox does not retry."""
    good = email_notifier(smtp_server.port, tmp_path)
    bad = EmailNotifier(
        EmailConfig.model_validate({**good.config.model_dump(), "password": "wrong"}),
        ComponentContext(instance="email.bad", state_dir=tmp_path),
    )
    with pytest.raises(AuthError):
        await bad.send(sample_notification())
    with pytest.raises(AuthError):
        await bad.check_connection()


async def test_email_without_verify_tls_warns(tmp_path: Path) -> None:
    notifier = email_notifier(free_port(), tmp_path, login=False)
    insecure = EmailNotifier(
        notifier.config.model_copy(update={"verify_tls": False}), notifier.context
    )
    with capture_logs() as logs:
        await insecure.start()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("tls_verification_disabled", "warning")
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tls": True}, "choose starttls or tls"),
        ({"username": "me"}, "username and password go together"),
        ({"to": []}, "at least 1 item"),
    ],
)
def test_email_config_rejects_inconsistent_options(extra: dict[str, Any], message: str) -> None:
    data = {"host": "smtp.example.org", "from_addr": "a@example.org", "to": ["b@example.org"]}
    with pytest.raises(ValidationError, match=message):
        EmailConfig.model_validate({**data, **extra})


def test_email_password_never_echoed_by_validation() -> None:
    data = {"host": "h", "from_addr": "a@b", "to": ["c@d"], "password": SMTP_PASSWORD}
    with pytest.raises(ValidationError) as caught:
        EmailConfig.model_validate(data)
    assert SMTP_PASSWORD not in str(caught.value)


# -- webhook --------------------------------------------------------------------------


async def test_slack_body_has_text_and_blocks(receiver: WebhookReceiver, tmp_path: Path) -> None:
    notifier = webhook_notifier(receiver.url, tmp_path, fmt="slack")
    await notifier.start()
    await notifier.send(sample_notification())
    await notifier.close()
    (request,) = receiver.requests
    body = request.json()
    assert body["text"].startswith("Budget monthly-openai reached 80 %")
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds == ["header", "section", "section", "actions", "context"]
    assert body["blocks"][3]["elements"][0]["url"] == "http://127.0.0.1:5006/costpipe"
    assert "gpt-4o &lt;&amp;&gt;" in str(body["blocks"][2])
    assert receiver.signature_valid(request)


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [(401, AuthError, False), (404, CostpipeError, False), (429, CostpipeError, True)],
)
async def test_webhook_status_codes_map_to_errors(
    tmp_path: Path, status: int, error: type[CostpipeError], retryable: bool
) -> None:
    """401 is a credential problem, 404 a permanent rejection, 429 worth retrying."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    notifier = webhook_notifier(f"http://127.0.0.1:{port}/hook", tmp_path)
    try:
        with pytest.raises(error) as caught:
            await notifier.send(sample_notification(NotificationKind.TEST))
        assert caught.value.retryable is retryable
    finally:
        await notifier.close()
        await runner.cleanup()


async def test_webhook_check_connection_posts_nothing(
    receiver: WebhookReceiver, tmp_path: Path
) -> None:
    notifier = webhook_notifier(receiver.url, tmp_path)
    answer = await notifier.check_connection()
    assert answer.startswith("webhook URL is valid and its host resolves")
    assert WEBHOOK_TOKEN not in answer
    assert receiver.requests == []


async def test_webhook_check_connection_fails_for_unresolvable_host(tmp_path: Path) -> None:
    notifier = webhook_notifier(f"http://no-such-host.invalid/{WEBHOOK_TOKEN}", tmp_path)
    with pytest.raises(CostpipeError) as caught:
        await asyncio.wait_for(notifier.check_connection(), 10)
    assert WEBHOOK_TOKEN not in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.org/x", "not a url", "https:///path-only"])
def test_webhook_url_must_be_http_and_is_not_echoed(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookConfig.model_validate({"url": url})
    assert "expected an http:// or https:// URL" in str(caught.value)
    assert url not in str(caught.value)


def test_builtin_notifiers_register_through_the_hook() -> None:
    _, registry = build_plugin_manager(
        builtins=("costpipe.notifiers.email", "costpipe.notifiers.webhook"), entry_points=False
    )
    assert registry.names("notifiers") == ["email", "webhook"]
    assert registry.get("notifiers", "webhook") is WebhookNotifier
