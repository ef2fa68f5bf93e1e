"""``[[notifiers.pagerduty]]``: alerts as PagerDuty Events API v2 events.

Each notification is one event POSTed to ``https://events.pagerduty.com/v2/enqueue``::

    {"routing_key": "<integration key>", "event_action": "trigger" | "resolve",
     "dedup_key": "costpipe-<hash>",
     "payload": {"summary": "<≤1024 chars>", "source": "costpipe", "severity": "error",
                 "timestamp": "2026-11-20T09:30:00+00:00", "component": "<rule>",
                 "group": "<group>", "class": "<kind>", "custom_details": {...}},
     "client": "costpipe", "client_url": "<dashboard>", "links": [...]}

An alert and its recovery share one ``dedup_key``, a hash of the alert's
family, rule, group and period (for a budget: one incident per rule, group and
budget period; for an anomaly: per rule, group and bucket), so a ``resolved``
notification sends ``event_action: resolve`` for the incident its alert opened,
and a repeated reminder updates the open incident instead of opening another.
Digests, period resets and test messages are ``info`` triggers under their own
key (their notification id): route them elsewhere if they should not page.
The routing key is a ``SecretStr``; PagerDuty answers 202 Accepted, 400 for an
invalid event (not retried), 429 and 5xx for "try again".
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator

from costpipe.alerts.render import facts
from costpipe.components import ComponentConfig, ComponentContext, Notifier
from costpipe.config.durations import Duration
from costpipe.hookspecs import hookimpl
from costpipe.notification import Notification, NotificationKind
from costpipe.notifiers.posting import JsonPoster, build_or_undeliverable, with_dashboard_url

__all__ = ["EVENTS_URL", "MAX_SUMMARY", "PagerDutyConfig", "PagerDutyNotifier", "event"]

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: PagerDuty truncates a longer summary; costpipe cuts it itself, visibly.
MAX_SUMMARY = 1024
_MAX_DETAIL = 1000
Severity = Literal["critical", "error", "warning", "info"]
#: Kinds that are news, not incidents: each is its own event.
_NEWS = {NotificationKind.RESET, NotificationKind.DIGEST, NotificationKind.TEST}
_WARNINGS = {NotificationKind.FORECAST, NotificationKind.UNPRICED, NotificationKind.STALE}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_resolution(notification: Notification) -> bool:
    """A budget's ``resolved`` or another family's (``anomaly_resolved``)."""
    return notification.kind.value.endswith("resolved")


def dedup_key(notification: Notification) -> str:
    """The incident key shared by an alert and its resolution (see module docs)."""
    n = notification
    if n.kind in _NEWS:
        return f"costpipe-{n.id}"
    family = n.labels.get("kind") or ("" if n.rule else n.kind.value)
    text = "\x1f".join((family, n.rule, n.group, n.period))
    return "costpipe-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def event(
    notification: Notification, routing_key: str, severity: Severity, source: str
) -> dict[str, Any]:
    """The Events API v2 body for *notification* (pure)."""
    n = notification
    key = dedup_key(n)
    if n.kind in _NEWS:
        severity = "info"
    elif n.kind in _WARNINGS:
        severity = "warning"
    details: dict[str, Any] = {label: _cut(value, _MAX_DETAIL) for label, value in facts(n)}
    details["notification_id"] = n.id
    for table in n.tables:
        details[_cut(table.title, 100)] = [
            dict(zip(table.columns, row, strict=False)) for row in table.rows[:20]
        ]
    payload: dict[str, Any] = {
        "summary": _cut(f"{n.title}: {n.summary}", MAX_SUMMARY),
        "source": source,
        "severity": severity,
        "timestamp": n.created_at.isoformat(),
        "class": n.labels.get("kind") or n.kind.value,
        "custom_details": details,
    }
    if n.rule:
        payload["component"] = _cut(n.rule, 255)
    if n.group:
        payload["group"] = _cut(n.group, 255)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        # A resolve needs only the key; its payload (ignored by PagerDuty) keeps the id visible.
        "event_action": "resolve" if is_resolution(n) else "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": "costpipe",
    }
    if n.dashboard_url:
        body["client_url"] = n.dashboard_url
        body["links"] = [{"href": n.dashboard_url, "text": "costpipe dashboard"}]
    return body


class PagerDutyConfig(ComponentConfig):
    """Options of one PagerDuty notifier instance."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    routing_key: SecretStr = Field(
        description='Events API v2 integration key, e.g. "${PAGERDUTY_ROUTING_KEY}".'
    )
    url: str = Field(
        default=EVENTS_URL,
        description="Events API endpoint (https://events.eu.pagerduty.com/v2/enqueue for the EU).",
    )
    severity: Severity = Field(
        default="error", description="Severity of threshold and anomaly alerts."
    )
    source: str = Field(default="costpipe", description="The event's payload.source.")
    verify_tls: bool = Field(default=True, description="Check the server certificate.")
    timeout: Duration = Field(default=timedelta(seconds=10), description="Per-request timeout.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("expected an https:// URL")
        return value


class PagerDutyNotifier(Notifier[PagerDutyConfig]):
    """Sends each notification as one event.

    A 2xx answer acknowledges it. 401/403 raise
    :class:`~costpipe.errors.AuthError`; 429, 5xx, timeouts and connection
    failures a :class:`~costpipe.errors.TransientError`; 400 (an event
    PagerDuty finds invalid) and other 4xx a non-retryable
    :class:`~costpipe.errors.CostpipeError`.
    """

    name: ClassVar[str] = "pagerduty"
    config_model = PagerDutyConfig
    secret_fields = ("routing_key",)

    def __init__(self, config: PagerDutyConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self._poster = JsonPoster(
            self.instance, "PagerDuty", timeout=config.timeout, verify_tls=config.verify_tls
        )

    async def start(self) -> None:
        self._poster.warn_if_unverified(self.log)

    async def close(self) -> None:
        await self._poster.close()

    def build_body(self, notification: Notification) -> bytes:
        notification = with_dashboard_url(notification, self.context)
        c = self.config
        body = event(notification, c.routing_key.get_secret_value(), c.severity, c.source)
        return json.dumps(body, ensure_ascii=False).encode()

    async def send(self, notification: Notification) -> None:
        body = build_or_undeliverable(
            self.instance, notification, lambda: self.build_body(notification), "an event"
        )
        await self._poster.post(
            self.config.url,
            body,
            {"Content-Type": "application/json"},
            refused="the routing key",
            rejected="the event",
        )

    async def check_connection(self) -> str:
        """Nothing is sent: every event to the routing key would open an incident."""
        return (
            f"PagerDuty Events API v2 at {self.config.url} (nothing sent; use costpipe alerts test)"
        )


@hookimpl
def register_notifiers() -> list[type[Notifier[Any]]]:
    return [PagerDutyNotifier]
