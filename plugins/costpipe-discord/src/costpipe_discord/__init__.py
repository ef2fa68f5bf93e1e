"""costpipe notifier posting to Discord webhooks (``[[notifiers.discord]]``).

One ``POST {url}?wait=true`` per notification with ``content`` and one embed.
Discord has no idempotency key: the notification id goes in the embed footer
so a human can tell a retried message from a new alert. The webhook URL embeds
its token, so it is a secret: it never reaches a log line or an error message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import ConfigDict, Field, SecretStr, field_validator

from costpipe import (
    AuthError,
    ComponentConfig,
    CostpipeError,
    Notification,
    NotificationKind,
    Notifier,
    TransientError,
    hookimpl,
)

__all__ = ["DiscordConfig", "DiscordNotifier", "build_payload", "register_notifiers"]
__version__ = "0.1.0"

#: Embed colour per kind (Discord wants an integer RGB).
COLOURS: dict[NotificationKind, int] = {
    NotificationKind.THRESHOLD: 0xE67E22,
    NotificationKind.FORECAST: 0xF1C40F,
    NotificationKind.RESOLVED: 0x2ECC71,
    NotificationKind.RESET: 0x3498DB,
    NotificationKind.UNPRICED: 0x9B59B6,
    NotificationKind.STALE: 0xE74C3C,
    NotificationKind.TEST: 0x95A5A6,
}
# Discord's documented limits.
_TITLE_MAX = 256
_DESCRIPTION_MAX = 4096
_CONTENT_MAX = 2000
_FIELDS_MAX = 25
_FIELD_VALUE_MAX = 1024


class DiscordConfig(ComponentConfig):
    """``[[notifiers.discord]]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: SecretStr = Field(description='Webhook URL, e.g. "${DISCORD_WEBHOOK_URL}".')
    username: str | None = Field(default=None, description="Display name of the messages.")
    mention: str | None = Field(
        default=None, description="Prepended to `content`, e.g. `<@&role id>`; the only ping."
    )
    timeout: timedelta = Field(default=timedelta(seconds=10), description="Per-request timeout.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an https:// webhook URL")
        return value


def _money(value: Any) -> str:
    return f"${value:,.2f}"


def build_payload(notification: Notification, config: DiscordConfig) -> dict[str, Any]:
    """The webhook body (pure)."""
    fields: list[dict[str, Any]] = []
    for label, value in (
        ("Spent", notification.spend_usd),
        ("Budget", notification.budget_usd),
        ("Forecast", notification.forecast_usd),
    ):
        if value is not None:
            fields.append({"name": label, "value": _money(value), "inline": True})
    if notification.threshold_percent is not None:
        fields.append(
            {"name": "Threshold", "value": f"{notification.threshold_percent} %", "inline": True}
        )
    for label, text in (
        ("Rule", notification.rule),
        ("Group", notification.group),
        ("Period", notification.period),
        ("Budget runs out", notification.exhaustion_date or ""),
    ):
        if text:
            fields.append({"name": label, "value": text[:_FIELD_VALUE_MAX], "inline": True})
    for key, text in notification.details.items():
        fields.append({"name": key[:256], "value": (text or "-")[:_FIELD_VALUE_MAX]})
    embed: dict[str, Any] = {
        "title": notification.title[:_TITLE_MAX],
        "description": notification.summary[:_DESCRIPTION_MAX],
        "color": COLOURS.get(notification.kind, 0x95A5A6),
        "fields": fields[:_FIELDS_MAX],
        "footer": {"text": f"costpipe {notification.id}"},
        "timestamp": notification.created_at.isoformat(),
    }
    if notification.dashboard_url:
        embed["url"] = notification.dashboard_url
    content = f"**{notification.title}**"
    if config.mention:
        content = f"{config.mention} {content}"
    payload: dict[str, Any] = {
        "content": content[:_CONTENT_MAX],
        "embeds": [embed],
        # Only the configured mention may ping; alert text never does.
        "allowed_mentions": {
            "parse": [],
            "roles": _ids(config.mention, "role"),
            "users": _ids(config.mention, "user"),
        },
    }
    if config.username:
        payload["username"] = config.username
    return payload


def _ids(mention: str | None, kind: str) -> list[str]:
    """The id in a ``<@&role>`` (kind ``role``) or ``<@user>``/``<@!user>`` mention."""
    if not mention or not mention.startswith("<@") or not mention.endswith(">"):
        return []
    inner = mention[2:-1]
    is_role = inner.startswith("&")
    if is_role != (kind == "role"):
        return []
    inner = inner.lstrip("!&")
    return [inner] if inner.isdigit() else []


class DiscordNotifier(Notifier[DiscordConfig]):
    """Posts each notification once; a 2xx answer acknowledges it."""

    name: ClassVar[str] = "discord"
    config_model: ClassVar[type[DiscordConfig]] = DiscordConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("url",)

    _session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._open()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout.total_seconds())
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, notification: Notification) -> None:
        payload = build_payload(notification, self.config)
        url = self.config.url.get_secret_value().strip()
        try:
            async with self._open().post(
                url, params={"wait": "true"}, json=payload, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # Library messages contain the URL, i.e. the token: keep the type only.
            raise TransientError(
                f"{self.instance}: Discord webhook request failed ({type(exc).__name__})"
            ) from None
        if 200 <= status < 300:
            return
        if status in (401, 403, 404):
            raise AuthError(
                f"{self.instance}: Discord refused the webhook ({status}); "
                "check that `url` names an existing webhook"
            )
        if status == 429 or status >= 500:
            raise TransientError(f"{self.instance}: Discord answered {status}")
        raise CostpipeError(f"{self.instance}: Discord rejected the message ({status})")

    async def check_connection(self) -> str:
        """GET the webhook (Discord answers its name and channel); posts nothing."""
        try:
            async with self._open().get(self.config.url.get_secret_value().strip()) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise TransientError(
                f"{self.instance}: Discord webhook unreachable ({type(exc).__name__})"
            ) from None
        if status != 200:
            raise AuthError(f"{self.instance}: Discord webhook lookup answered {status}")
        name = body.get("name", "?") if isinstance(body, dict) else "?"
        return f"Discord webhook {name!r} exists"


@hookimpl
def register_notifiers() -> list[type[Notifier[Any]]]:
    return [DiscordNotifier]
