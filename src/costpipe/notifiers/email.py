"""``[[notifiers.email]]``: alerts by email through an SMTP server (aiosmtplib).

Each message has a plain-text and an HTML part with the figures and, when
``[dashboard] url`` is set, a link to the dashboard. ``Message-ID`` is derived
from the notification id, so a retried delivery carries the same id and mail
systems can drop the duplicate.

Header values pass through :func:`~costpipe.notifiers.headers.header_text`
(titles carry names from provider data). A message that still cannot be built
(or serialized) raises :class:`~costpipe.errors.UndeliverableError`: the outbox
records it and delivers the next ones instead of retrying it forever.
"""

from __future__ import annotations

import dataclasses
import email.policy
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, ClassVar

import aiosmtplib
from pydantic import ConfigDict, Field, SecretStr, model_validator

from costpipe.alerts.render import render_html, render_text
from costpipe.components import ComponentConfig, Notifier
from costpipe.config.durations import Duration
from costpipe.errors import AuthError, CostpipeError, TransientError, UndeliverableError
from costpipe.hookspecs import hookimpl
from costpipe.notification import Notification
from costpipe.notifiers.headers import header_text

__all__ = ["EmailConfig", "EmailNotifier"]


class EmailConfig(ComponentConfig):
    """Options of one SMTP notifier instance."""

    # The input of a failed validation never reaches an error message: it may be a password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    host: str = Field(description="SMTP server host name.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    tls: bool = Field(default=False, description="Connect with implicit TLS (usually port 465).")
    username: str | None = Field(default=None, description="Login name, if the server needs one.")
    password: SecretStr | None = Field(default=None, description='Password, e.g. "${SMTP_PASS}".')
    from_addr: str = Field(description="Sender address.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    verify_tls: bool = Field(default=True, description="Check the server certificate.")
    timeout: Duration = Field(default=timedelta(seconds=30), description="Per-connection timeout.")
    subject_prefix: str = Field(default="[costpipe] ", description="Prepended to every subject.")

    @model_validator(mode="after")
    def _consistent(self) -> EmailConfig:
        if self.tls and self.starttls:
            raise ValueError("choose starttls or tls, not both (tls = true needs starttls = false)")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class EmailNotifier(Notifier[EmailConfig]):
    """Sends each notification as one email to every address in ``to``.

    Errors: a refused login raises :class:`~costpipe.errors.AuthError`; a
    permanent (5xx) refusal a non-retryable :class:`~costpipe.errors.CostpipeError`;
    connection failures, timeouts and 4xx replies a
    :class:`~costpipe.errors.TransientError`. No message contains the password.
    """

    name: ClassVar[str] = "email"
    config_model = EmailConfig

    async def start(self) -> None:
        if not self.config.verify_tls:
            self.log.warning("tls_verification_disabled", notifier=self.instance)
        if self.config.password is not None and not (self.config.starttls or self.config.tls):
            # Once per start: the login would cross the network in clear text.
            self.log.warning(
                "smtp_password_without_tls",
                notifier=self.instance,
                hint="set starttls = true (port 587) or tls = true (port 465)",
            )

    def _smtp_options(self) -> dict[str, Any]:
        c = self.config
        return {
            "hostname": c.host,
            "port": c.port,
            "use_tls": c.tls,
            # False, not None: never upgrade silently when the config says plain SMTP.
            "start_tls": c.starttls,
            "validate_certs": c.verify_tls,
            "timeout": c.timeout.total_seconds(),
            "username": c.username,
            "password": None if c.password is None else c.password.get_secret_value(),
        }

    def build_message(self, notification: Notification) -> EmailMessage:
        """The email for *notification* (pure; exposed for tests and previews)."""
        if notification.dashboard_url is None and self.context.dashboard_url:
            # The engine fills the link in; a notification made elsewhere gets the context's.
            notification = dataclasses.replace(
                notification, dashboard_url=self.context.dashboard_url
            )
        message = EmailMessage()
        headers = {
            "Subject": f"{self.config.subject_prefix}{notification.title}",
            "From": self.config.from_addr,
            "To": ", ".join(self.config.to),
            "Date": format_datetime(notification.created_at),
            "Message-ID": f"<{notification.id}@costpipe>",
            "X-Costpipe-Notification-Id": notification.id,
            "X-Costpipe-Kind": notification.kind.value,
        }
        for name, value in headers.items():
            message[name] = header_text(value)
        message.set_content(render_text(notification))
        message.add_alternative(render_html(notification), subtype="html")
        return message

    def message_bytes(self, notification: Notification) -> bytes:
        """The serialized email, or :class:`UndeliverableError` if it cannot be made.

        Serializing here, not inside the SMTP client, means every failure of the
        message itself is known to be permanent before a connection is opened.
        """
        try:
            # The SMTP policy: CRLF line endings, as aiosmtplib would flatten it.
            return self.build_message(notification).as_bytes(policy=email.policy.SMTP)
        except Exception as exc:  # any failure of the email library on this content
            raise UndeliverableError(
                f"{self.instance}: notification {notification.id} cannot be built as an email"
                f" ({type(exc).__name__})"
            ) from None

    async def send(self, notification: Notification) -> None:
        message = self.message_bytes(notification)
        try:
            await aiosmtplib.send(
                message,
                sender=self.config.from_addr,
                recipients=self.config.to,
                **self._smtp_options(),
            )
        except Exception as exc:
            raise self._wrap(exc) from None

    async def check_connection(self) -> str:
        """Connect, EHLO, STARTTLS and log in as configured; send no mail."""
        options = self._smtp_options()
        username, password = options.pop("username"), options.pop("password")
        client = aiosmtplib.SMTP(**options)
        steps = ["EHLO"]
        try:
            await client.connect()
            if self.config.starttls:
                steps.append("STARTTLS")
            if self.config.tls:
                steps.append("TLS")
            if username is not None:
                await client.login(username, password)
                steps.append("login")
            await client.quit()
        except Exception as exc:
            client.close()
            raise self._wrap(exc) from None
        return f"SMTP {self.config.host}:{self.config.port} accepted {', '.join(steps)}"

    def _wrap(self, exc: Exception) -> CostpipeError:
        where = f"{self.instance}: SMTP {self.config.host}:{self.config.port}"
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return AuthError(f"{where} refused the login ({exc.code})")
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            return CostpipeError(f"{where} refused the recipients")
        if type(exc) is aiosmtplib.SMTPException and "STARTTLS" in str(exc):
            # aiosmtplib's words for an EHLO without STARTTLS: the server is up.
            return CostpipeError(
                f"{where} does not offer STARTTLS, and starttls = true (the default):"
                " set tls = true (usually with port = 465) if the server speaks implicit TLS,"
                " or starttls = false to send without encryption"
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if 500 <= exc.code < 600:
                return CostpipeError(f"{where} refused the message ({exc.code})")
            return TransientError(f"{where} deferred the message ({exc.code})")
        if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
            return TransientError(f"{where} unreachable ({type(exc).__name__})")
        return TransientError(f"{where} failed ({type(exc).__name__})")


@hookimpl
def register_notifiers() -> list[type[Notifier[Any]]]:
    return [EmailNotifier]
