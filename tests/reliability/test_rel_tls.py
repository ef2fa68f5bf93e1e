"""Transport: TLS verification is on by default for providers, InfluxDB, SMTP and
webhooks. A loopback HTTPS (and SMTP-over-TLS) server with a self-signed
certificate made here with the openssl CLI is refused by default and accepted
with ``verify_tls = false``, which logs a ``tls_verification_disabled`` warning."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from pydantic import BaseModel
from structlog.testing import capture_logs

from costpipe.components import Component, ComponentContext
from costpipe.errors import CostpipeError
from costpipe.notification import Notification, NotificationKind
from costpipe.notifiers.email import EmailConfig, EmailNotifier
from costpipe.notifiers.webhook import WebhookConfig, WebhookNotifier
from costpipe.providers.anthropic import AnthropicConfig
from costpipe.providers.litellm import LiteLLMConfig
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.providers.openrouter import OpenRouterConfig
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from tests.alerts.conftest import free_port

NOTE = Notification(
    id="n-tls", kind=NotificationKind.THRESHOLD, title="t", summary="s",
    created_at=datetime(2026, 5, 1, tzinfo=UTC),
)  # fmt: skip


@pytest.mark.parametrize(
    ("model", "required"),
    [
        (OpenAIConfig, {"api_key": "k"}),
        (AnthropicConfig, {"api_key": "k"}),
        (OpenRouterConfig, {"api_key": "k"}),
        (LiteLLMConfig, {"api_key": "k", "base_url": "https://x"}),
        (InfluxDBConfig, {}),
        (EmailConfig, {"host": "h", "from_addr": "a@b", "to": ["c@d"]}),
        (WebhookConfig, {"url": "https://x/y"}),
    ],
)
def test_verify_tls_defaults_to_true(model: type[BaseModel], required: dict[str, Any]) -> None:
    assert model.model_validate(required).verify_tls is True  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class HttpsServer:
    """Answers like a provider, InfluxDB and a webhook receiver; counts requests
    that got past the TLS handshake."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        if request.path == "/ping":
            return web.Response(status=204, headers={"X-Influxdb-Version": "1.8.10"})
        if request.path == "/query":
            return web.json_response({"results": [{"statement_id": 0}]})
        return web.json_response({"object": "page", "data": [], "has_more": False})


@pytest.fixture
async def https(certificate: ssl.SSLContext) -> AsyncIterator[HttpsServer]:
    server = HttpsServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certificate)
    await site.start()
    server.url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


def context(instance: str, tmp_path: Path) -> ComponentContext:
    return ComponentContext(
        instance=instance, state_dir=tmp_path / instance, request_slots=asyncio.Semaphore(2)
    )


def components(url: str, smtp_port: int, tmp_path: Path, verify: bool) -> list[Component[Any]]:
    return [
        OpenAIProvider(
            OpenAIConfig(api_key="sk-admin-x", base_url=url + "/v1", verify_tls=verify,
                         max_retries=0),  # type: ignore[arg-type]
            context("openai.tls", tmp_path),
        ),
        InfluxDBSink(
            InfluxDBConfig(url=url, verify_tls=verify, max_tries=1),
            context("influxdb.tls", tmp_path),
        ),
        WebhookNotifier(
            WebhookConfig(url=url + "/hook", verify_tls=verify),  # type: ignore[arg-type]
            context("webhook.tls", tmp_path),
        ),
        EmailNotifier(
            EmailConfig(host="127.0.0.1", port=smtp_port, tls=True, starttls=False,
                        from_addr="a@example.org", to=["b@example.org"], verify_tls=verify,
                        timeout="5s"),  # type: ignore[arg-type]
            context("email.tls", tmp_path),
        ),
    ]  # fmt: skip


async def exercise(component: Component[Any]) -> None:
    """The component's first contact with its server."""
    if isinstance(component, WebhookNotifier):
        await component.send(NOTE)  # its check_connection only resolves the host
    else:
        await component.check_connection()


class Mailbox:
    """An SMTP handler that accepts everything (the test sends no mail)."""


@pytest.fixture
def smtps(certificate: ssl.SSLContext) -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=certificate)
    controller.start()
    yield port, mailbox
    controller.stop()


async def test_self_signed_servers_are_refused_by_default(
    https: HttpsServer, smtps: tuple[int, Mailbox], tmp_path: Path
) -> None:
    port, _ = smtps
    for component in components(https.url, port, tmp_path, verify=True):
        await component.start()
        try:
            with pytest.raises(CostpipeError) as caught:
                await exercise(component)
            if not isinstance(component, EmailNotifier):
                # aiosmtplib reports a refused certificate as SMTPConnectError only.
                assert "Certificate" in str(caught.value), caught.value
        finally:
            await component.close()
    assert https.hits == [], "no request got past the TLS handshake"


async def test_verify_tls_false_connects_and_warns(
    https: HttpsServer, smtps: tuple[int, Mailbox], tmp_path: Path
) -> None:
    port, _ = smtps
    for component in components(https.url, port, tmp_path, verify=False):
        with capture_logs() as logs:
            await component.start()
        try:
            await exercise(component)
        finally:
            await component.close()
        events = [e["event"] for e in logs if e["log_level"] == "warning"]
        assert "tls_verification_disabled" in events, component.instance
    assert {"/v1/organization/costs", "/ping", "/hook"} <= set(https.hits), https.hits
    # The email check connected, negotiated TLS, said EHLO and quit without error.
