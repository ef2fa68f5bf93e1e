"""Receivers that check payloads against the documented schemas of Teams and PagerDuty.

Each is a real aiohttp server that answers as the service does: PagerDuty's
Events API v2 answers 202 with ``{"status": "success", "dedup_key": ...}`` or
400 ``{"status": "invalid event", "errors": [...]}``; a Teams Workflows
webhook answers 202, or 400 for a body that is not a message with Adaptive
Card attachments. The checks follow the public documentation:

* PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event"):
  ``routing_key`` (32 characters), ``event_action`` one of trigger /
  acknowledge / resolve, ``dedup_key`` at most 255 characters (required for
  acknowledge and resolve), and for a trigger a ``payload`` with ``summary``
  (1-1024 characters), ``source``, ``severity`` (critical / error / warning /
  info), optional ``timestamp`` (ISO 8601), ``component``, ``group``,
  ``class``, ``custom_details`` (object); optional ``links`` (``href``,
  ``text``), ``images``, ``client``, ``client_url``; nothing else.
* Teams Workflows ("Post to a channel when a webhook request is received"):
  ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content":
  <AdaptiveCard>}]}``; the card (adaptivecards.io schema): ``type``
  ``AdaptiveCard``, ``version`` at most 1.4 for every Teams client, ``body`` of
  known elements with their required properties (TextBlock ``text``, FactSet
  ``facts`` of ``title``/``value`` strings, ColumnSet ``columns`` of Column
  with ``items``), ``actions`` of Action.OpenUrl with ``title`` and an
  http(s) ``url``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from aiohttp import web

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, as PagerDuty issues them
TEAMS_SIG = "sig=SeCrEtSiGnAtUrE-4b1d"

_EVENT_KEYS = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
}
_PAYLOAD_KEYS = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}


def pagerduty_errors(body: Any) -> list[str]:
    """What PagerDuty would refuse in *body* (empty: a valid event)."""
    errors: list[str] = []
    if not isinstance(body, dict):
        return ["event must be an object"]
    errors += [f"unknown field {k}" for k in body.keys() - _EVENT_KEYS]
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("routing_key must be a 32-character string")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("event_action must be trigger, acknowledge or resolve")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("dedup_key must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append("dedup_key is required to acknowledge or resolve")
    payload = body.get("payload")
    if action == "trigger" and not isinstance(payload, dict):
        errors.append("payload is required for a trigger")
    if isinstance(payload, dict):
        errors += [f"unknown payload field {k}" for k in payload.keys() - _PAYLOAD_KEYS]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
            errors.append("payload.summary must be 1-1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("payload.source is required")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("payload.severity must be critical, error, warning or info")
        if "timestamp" in payload:
            try:
                datetime.fromisoformat(payload["timestamp"])
            except (TypeError, ValueError):
                errors.append("payload.timestamp must be ISO 8601")
        for name in ("component", "group", "class"):
            if name in payload and not isinstance(payload[name], str):
                errors.append(f"payload.{name} must be a string")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("payload.custom_details must be an object")
    for link in body.get("links", []):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            errors.append("each link needs an href")
    return errors


_ELEMENT_REQUIRED = {"TextBlock": "text", "FactSet": "facts", "ColumnSet": "columns"}


def _element_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{where}: element must be an object"]
    kind = element.get("type")
    if kind not in _ELEMENT_REQUIRED:
        return [f"{where}: unknown element type {kind!r}"]
    required = _ELEMENT_REQUIRED[kind]
    if required not in element:
        return [f"{where}: {kind} needs {required}"]
    errors: list[str] = []
    if kind == "TextBlock" and not isinstance(element["text"], str):
        errors.append(f"{where}: TextBlock.text must be a string")
    if kind == "FactSet":
        for i, fact in enumerate(element["facts"]):
            if not (isinstance(fact.get("title"), str) and isinstance(fact.get("value"), str)):
                errors.append(f"{where}.facts[{i}]: title and value must be strings")
    if kind == "ColumnSet":
        for i, column in enumerate(element["columns"]):
            if column.get("type") != "Column" or not isinstance(column.get("items"), list):
                errors.append(f"{where}.columns[{i}]: a Column with items")
                continue
            for j, item in enumerate(column["items"]):
                errors += _element_errors(item, f"{where}.columns[{i}].items[{j}]")
    return errors


def teams_errors(body: Any) -> list[str]:
    """What a Teams Workflows webhook would refuse in *body*."""
    if not isinstance(body, dict) or body.get("type") != "message":
        return ['body must be {"type": "message", ...}']
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments must be a non-empty list"]
    errors: list[str] = []
    for index, attachment in enumerate(attachments):
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            errors.append(f"attachments[{index}].contentType is not an Adaptive Card")
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            errors.append(f"attachments[{index}].content must be an AdaptiveCard")
            continue
        version = card.get("version", "")
        if not re.fullmatch(r"1\.[0-4]", str(version)):
            errors.append(f"card version {version!r} is not one every Teams client renders")
        for i, element in enumerate(card.get("body", [])):
            errors += _element_errors(element, f"body[{i}]")
        for i, action in enumerate(card.get("actions", [])):
            if action.get("type") != "Action.OpenUrl" or not isinstance(action.get("title"), str):
                errors.append(f"actions[{i}]: expected Action.OpenUrl with a title")
            elif not str(action.get("url", "")).startswith(("https://", "http://")):
                errors.append(f"actions[{i}]: url must be http(s)")
    return errors


class ServiceReceiver:
    """An aiohttp server playing PagerDuty (``/v2/enqueue``) and a Teams flow (``/workflows/…``)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.cards: list[dict[str, Any]] = []
        self.refused: list[list[str]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _pagerduty(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response(
                {"status": "invalid event", "errors": ["not JSON"]}, status=400
            )
        errors = pagerduty_errors(body)
        if errors:
            self.refused.append(errors)
            return web.json_response({"status": "invalid event", "errors": errors}, status=400)
        self.events.append(body)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")},
            status=202,
        )

    async def _teams(self, request: web.Request) -> web.Response:
        if request.query.get("sig") != TEAMS_SIG.removeprefix("sig="):
            return web.Response(status=401)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="not JSON")
        errors = teams_errors(body)
        if errors:
            self.refused.append(errors)
            return web.Response(status=400, text="; ".join(errors))
        self.cards.append(body)
        return web.Response(status=202)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._pagerduty)
        app.router.add_post("/workflows/{flow}", self._teams)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def pagerduty_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    @property
    def teams_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/workflows/flow-1?api-version=1&{TEAMS_SIG}"

    @property
    def event_ids(self) -> list[str]:
        return [e["payload"]["custom_details"]["notification_id"] for e in self.events]

    @property
    def card_ids(self) -> list[str]:
        ids = []
        for message in self.cards:
            body = message["attachments"][0]["content"]["body"]
            (marker,) = [e for e in body if e.get("id") == "costpipe-notification-id"]
            ids.append(marker["text"].removeprefix("alert id "))
        return ids
