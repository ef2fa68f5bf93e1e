"""``[[notifiers.teams]]``: alerts as an Adaptive Card to a Microsoft Teams Workflows webhook.

Teams retired the Office 365 connectors' MessageCard; a Workflows webhook
("Post to a channel when a webhook request is received") takes a message with
Adaptive Card attachments::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                  "type": "AdaptiveCard", "version": "1.4", "body": [...],
                                  "actions": [...]}}]}

The card uses only Adaptive Cards 1.4 elements (``TextBlock``, ``FactSet``,
``ColumnSet``/``Column``, ``Action.OpenUrl``), which every Teams client renders.
TextBlock and FactSet text is Markdown in Teams, so every text from data has
the Markdown characters escaped with a backslash: a user named ``[x](http://…)``
shows as written and never becomes a link. A flow answers 202 Accepted.

The URL carries the flow's signature (``sig=``): it is a ``SecretStr`` and no
error or log line contains it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from costpipe.alerts.render import facts
from costpipe.components import ComponentConfig, ComponentContext, Notifier
from costpipe.config.durations import Duration
from costpipe.hookspecs import hookimpl
from costpipe.notification import Notification, Table
from costpipe.notifiers.posting import JsonPoster, build_or_undeliverable, with_dashboard_url

__all__ = ["CARD_CONTENT_TYPE", "TeamsConfig", "TeamsNotifier", "adaptive_card", "markdown_text"]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
#: The element whose text carries the notification id (receivers may dedupe on it).
ID_ELEMENT = "costpipe-notification-id"
# Teams refuses messages over about 28 KB: bound what data can add.
_MAX_TABLES = 8
_MAX_ROWS = 10
_MAX_TEXT = 500
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def markdown_text(text: str) -> str:
    """*text* shown as written by Teams' Markdown (each special character escaped), bounded."""
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", text)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": markdown_text(text), "wrap": True, **style}


def _table(table: Table) -> list[dict[str, Any]]:
    def row(cells: tuple[str, ...], weight: str) -> dict[str, Any]:
        return {
            "type": "ColumnSet",
            "columns": [
                {"type": "Column", "width": "stretch", "items": [_text(c, weight=weight)]}
                for c in cells
            ],
        }

    items = [_text(table.title, weight="Bolder", separator=True), row(table.columns, "Bolder")]
    items += [row(r, "Default") for r in table.rows[:_MAX_ROWS]]
    if len(table.rows) > _MAX_ROWS:
        items.append(_text(f"and {len(table.rows) - _MAX_ROWS} more", isSubtle=True))
    return items


def adaptive_card(notification: Notification) -> dict[str, Any]:
    """The Workflows message for *notification* (pure)."""
    n = notification
    body: list[dict[str, Any]] = [
        _text(n.title, size="Large", weight="Bolder"),
        _text(n.summary),
    ]
    pairs = facts(n)
    if pairs:
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": markdown_text(label), "value": markdown_text(value)}
                    for label, value in pairs
                ],
            }
        )
    for table in n.tables[:_MAX_TABLES]:
        body += _table(table)
    body.append(
        {
            "type": "TextBlock",
            "id": ID_ELEMENT,
            "text": f"alert id {n.id}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if n.dashboard_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open dashboard", "url": n.dashboard_url}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


class TeamsConfig(ComponentConfig):
    """Options of one Teams Workflows notifier instance."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: SecretStr = Field(description='Workflows webhook URL, e.g. "${TEAMS_WEBHOOK_URL}".')
    verify_tls: bool = Field(default=True, description="Check the server certificate.")
    timeout: Duration = Field(default=timedelta(seconds=10), description="Per-request timeout.")

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: SecretStr) -> SecretStr:
        if not re.match(r"^https?://[^/\s]+", value.get_secret_value().strip()):
            raise ValueError("expected an https:// URL")
        return value


class TeamsNotifier(Notifier[TeamsConfig]):
    """POSTs each notification as one Adaptive Card message.

    A 2xx answer acknowledges it. 401/403 raise
    :class:`~costpipe.errors.AuthError`; 429, 5xx, timeouts and connection
    failures a :class:`~costpipe.errors.TransientError`; other 4xx a
    non-retryable :class:`~costpipe.errors.CostpipeError`.
    """

    name: ClassVar[str] = "teams"
    config_model = TeamsConfig
    secret_fields = ("url",)

    def __init__(self, config: TeamsConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self._poster = JsonPoster(
            self.instance, "Teams", timeout=config.timeout, verify_tls=config.verify_tls
        )

    async def start(self) -> None:
        self._poster.warn_if_unverified(self.log)

    async def close(self) -> None:
        await self._poster.close()

    def build_body(self, notification: Notification) -> bytes:
        notification = with_dashboard_url(notification, self.context)
        return json.dumps(adaptive_card(notification), ensure_ascii=False).encode()

    async def send(self, notification: Notification) -> None:
        body = build_or_undeliverable(
            self.instance, notification, lambda: self.build_body(notification), "a card"
        )
        await self._poster.post(
            self.config.url.get_secret_value().strip(),
            body,
            {"Content-Type": "application/json; charset=utf-8"},
            refused="the request",
            rejected="the card",
        )

    async def check_connection(self) -> str:
        """Check that the URL is well formed; post nothing (a post would show in the channel)."""
        return "Teams Workflows URL is well formed (nothing posted; use costpipe alerts test)"


@hookimpl
def register_notifiers() -> list[type[Notifier[Any]]]:
    return [TeamsNotifier]
