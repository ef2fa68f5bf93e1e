"""Fixtures for the alert tests: a real SMTP server (aiosmtpd), a real aiohttp
webhook receiver, notifiers pointed at them, and a MemorySink with helpers."""

from __future__ import annotations

import email
import email.message
import email.policy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, Session

from costpipe.alerts import AlertEngine
from costpipe.components import ComponentContext, Notifier
from costpipe.config.settings import (
    AlertSettings,
    BudgetConfig,
    DashboardSettings,
    HealthSettings,
    PipelineSettings,
    Settings,
)
from costpipe.notifiers.email import EmailConfig, EmailNotifier
from costpipe.notifiers.webhook import WebhookConfig, WebhookNotifier
from costpipe.records import CostRecord, CostSource
from costpipe.testing import MemorySink
from costpipe.testing.network import free_port  # aiosmtpd's Controller cannot take port 0

SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pass-7f3a9c"
WEBHOOK_TOKEN = "T00000/B00000/hook-token-5d1e8b"
WEBHOOK_SECRET = "hmac-secret-91c4"
DASHBOARD = "http://127.0.0.1:5006/costpipe"


# -- SMTP -----------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 OK"

    @property
    def ids(self) -> list[str]:
        return [str(m["X-Costpipe-Notification-Id"]) for m in self.messages]


class SmtpServer:
    """aiosmtpd on a fixed loopback port that can be started late (to play "down")."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = data.login.decode() == SMTP_USER and data.password.decode() == SMTP_PASSWORD
        if ok:
            self.inbox.logins.append(data.login.decode())
        # handled=False: aiosmtpd then answers 535 itself (True would leave the client hanging).
        return AuthResult(success=ok, handled=ok)

    def start(self) -> None:
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """An SMTP server that is not running yet: call ``start()`` to bring it up."""
    server = SmtpServer()
    yield server
    server.stop()


def email_notifier(
    port: int, tmp_path: Path, *, login: bool = True, instance: str = "email.ops"
) -> EmailNotifier:
    config = EmailConfig(
        host="127.0.0.1",
        port=port,
        starttls=False,
        from_addr="costpipe@example.org",
        to=["finance@example.org", "ops@example.org"],
        username=SMTP_USER if login else None,
        password=SMTP_PASSWORD if login else None,  # type: ignore[arg-type]
        timeout=timedelta(seconds=5),
    )
    return EmailNotifier(config, ComponentContext(instance=instance, state_dir=tmp_path))


# -- webhook --------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An aiohttp server that records every POST; ``fail_next`` answers 503."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_next = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="try later")
        self.requests.append(Received(request.path, dict(request.headers), body))
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/{WEBHOOK_TOKEN}"

    @property
    def ids(self) -> list[str]:
        return [r.headers["X-Costpipe-Notification-Id"] for r in self.requests]

    def signature_valid(self, request: Received) -> bool:
        expected = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", request.headers["X-Costpipe-Signature"])


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver()
    await server.start()
    yield server
    await server.stop()


def webhook_notifier(
    url: str, tmp_path: Path, *, fmt: str = "json", instance: str = "webhook.hooks"
) -> WebhookNotifier:
    config = WebhookConfig.model_validate(
        {
            "url": url,
            "format": fmt,
            "secret": WEBHOOK_SECRET,
            "timeout": "5s",
            "headers": {"X-Team": "finops"},
        }
    )
    return WebhookNotifier(config, ComponentContext(instance=instance, state_dir=tmp_path))


# -- engine ---------------------------------------------------------------------------


def settings(
    *budgets: BudgetConfig,
    timezone: str = "UTC",
    alerts: AlertSettings | None = None,
) -> Settings:
    return Settings(
        pipeline=PipelineSettings(timezone=timezone),
        components={},
        budgets=list(budgets),
        alerts=alerts or AlertSettings(max_attempts=2),
        health=HealthSettings(),
        dashboard=DashboardSettings(url=DASHBOARD),
    )


def budget(**overrides: Any) -> BudgetConfig:
    data: dict[str, Any] = {
        "name": "monthly",
        "amount_usd": 100,
        "thresholds": [50, 80, 100],
        "notify": ["ops"],
        # These tests store billed rows; a new budget's default basis is best.
        "cost_basis": "billed",
    }
    data.update(overrides)
    return BudgetConfig.model_validate(data)


def notifier_map(*notifiers: Notifier[Any]) -> dict[str, Notifier[Any]]:
    """Full and short names, as the daemon builds them."""
    mapping: dict[str, Notifier[Any]] = {}
    for notifier in notifiers:
        mapping[notifier.instance] = notifier
        mapping[notifier.instance.split(".", 1)[1]] = notifier
    return mapping


def engine(
    config: Settings,
    sink: MemorySink,
    notifiers: dict[str, Notifier[Any]],
    state_dir: Path,
    log: Any = None,
) -> AlertEngine:
    return AlertEngine(
        config,
        sink.reader(),
        notifiers,
        state_dir,
        log if log is not None else structlog.get_logger("costpipe.alerts"),
        retry_delay=0.01,
    )


def cost(
    start: datetime,
    usd: str,
    *,
    user: str = "",
    item: str = "a",
    source: CostSource = CostSource.BILLED,
    model: str = "gpt-4o",
    tokens: int = 0,
) -> CostRecord:
    """One hourly billed row; the same (start, user, item) is the same key (a revision)."""
    return CostRecord(
        start=start,
        width=timedelta(hours=1),
        provider="openai",
        account="prod",
        cost_source=source,
        cost_usd=Decimal(usd),
        model=model,
        user_id=user,
        line_item=item,
        uncached_input_tokens=tokens,
    )


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink.create()
