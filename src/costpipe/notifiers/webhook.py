"""``[[notifiers.webhook]]``: alerts as an HTTP POST (Slack or documented JSON).

``format = "slack"`` posts a Slack incoming-webhook message (``text`` and
``blocks``); ``format = "json"`` posts the body documented in
:mod:`costpipe.alerts.render`. Every request carries the notification id in
``Idempotency-Key`` and ``X-Costpipe-Notification-Id``; with a ``secret`` it is
signed: ``X-Costpipe-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
A notification whose body cannot be encoded raises
:class:`~costpipe.errors.UndeliverableError` (the outbox skips it for good).

The URL is a secret (a Slack webhook URL is its own credential): it is a
``SecretStr``, and no error or log line contains it, nor the library errors
that would (they are replaced by their type name).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator

from costpipe.alerts.render import render_json, render_slack
from costpipe.components import ComponentConfig, ComponentContext, Notifier
from costpipe.config.durations import Duration
from costpipe.errors import TransientError
from costpipe.hookspecs import hookimpl
from costpipe.notification import Notification
from costpipe.notifiers.headers import header_text
from costpipe.notifiers.posting import JsonPoster, build_or_undeliverable, with_dashboard_url

__all__ = ["SIGNATURE_HEADER", "WebhookConfig", "WebhookNotifier", "sign"]

SIGNATURE_HEADER = "X-Costpipe-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for *body*: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookConfig(ComponentConfig):
    """Options of one webhook notifier instance."""

    # The URL is secret: failed validation must not echo it.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: SecretStr = Field(description='Webhook URL, e.g. "${SLACK_WEBHOOK_URL}".')
    format: Literal["json", "slack"] = Field(default="json", description="Body format.")
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 signing key.")
    verify_tls: bool = Field(default=True, description="Check the server certificate.")
    timeout: Duration = Field(default=timedelta(seconds=10), description="Per-request timeout.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL")
        return value


class WebhookNotifier(Notifier[WebhookConfig]):
    """POSTs each notification once to the configured URL.

    A 2xx answer acknowledges it. 401/403 raise
    :class:`~costpipe.errors.AuthError`; 429, 5xx, timeouts and connection
    failures a :class:`~costpipe.errors.TransientError`; other 4xx a
    non-retryable :class:`~costpipe.errors.CostpipeError`.
    """

    name: ClassVar[str] = "webhook"
    config_model = WebhookConfig
    secret_fields = ("url",)

    def __init__(self, config: WebhookConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self._poster = JsonPoster(
            self.instance, "webhook", timeout=config.timeout, verify_tls=config.verify_tls
        )

    async def start(self) -> None:
        self._poster.warn_if_unverified(self.log)
        self._poster.open()

    async def close(self) -> None:
        await self._poster.close()

    def build_body(self, notification: Notification) -> bytes:
        """The raw request body (pure; the signature covers exactly these bytes)."""
        notification = with_dashboard_url(notification, self.context)
        payload = (
            render_slack(notification)
            if self.config.format == "slack"
            else render_json(notification)
        )
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()

    def build_headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        headers = dict(self.config.headers)
        headers.update(
            {
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": notification.id,
                "X-Costpipe-Notification-Id": notification.id,
            }
        )
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.secret.get_secret_value(), body)
        return {name: header_text(value) for name, value in headers.items()}

    def _request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        body = self.build_body(notification)
        return body, self.build_headers(notification, body)

    async def send(self, notification: Notification) -> None:
        body, headers = build_or_undeliverable(
            self.instance, notification, lambda: self._request(notification), "a request"
        )
        await self._poster.post(
            self.config.url.get_secret_value(),
            body,
            headers,
            refused="the request",
            rejected="the message",
        )

    async def check_connection(self) -> str:
        """Check that the URL is well formed and its host resolves; post nothing."""
        parts = urlsplit(self.config.url.get_secret_value().strip())
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await asyncio.get_running_loop().getaddrinfo(host, port)
        except OSError as exc:
            raise TransientError(
                f"{self.instance}: webhook host does not resolve ({type(exc).__name__})"
            ) from None
        return f"webhook URL is valid and its host resolves ({len(addresses)} addresses)"


@hookimpl
def register_notifiers() -> list[type[Notifier[Any]]]:
    return [WebhookNotifier]
