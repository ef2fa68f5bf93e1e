"""Message bodies for notifiers: plain text, HTML, Slack blocks, JSON. Pure.

The JSON body (``format = "json"`` webhooks) is version 1::

    {
      "version": 1,
      "id": "<idempotency key, stable across retries>",
      "kind": "threshold|forecast|resolved|reset|unpriced|stale|test",
      "title": "...", "summary": "...",
      "created_at": "2026-11-27T08:00:00+00:00",
      "rule": "...", "group": "...", "period": "month:2026-11-01",
      "threshold_percent": 80 | null,
      "spend_usd": "812.40" | null, "budget_usd": "1000" | null,
      "forecast_usd": "1433.10" | null, "exhaustion_date": "2026-11-21" | null,
      "dashboard_url": "https://..." | null,
      "details": {"model": "...", ...},
      "tables": [{"title": "...", "columns": ["..."], "rows": [["..."]]}]
    }

Money is a decimal *string* so that no receiver parses it into a float by accident.
"""

from __future__ import annotations

import html
from typing import Any

from costpipe.alerts.messages import format_usd
from costpipe.notification import Notification, NotificationKind, Table

__all__ = ["JSON_VERSION", "facts", "render_html", "render_json", "render_slack", "render_text"]

JSON_VERSION = 1
# Slack allows 50 blocks per message; the fixed ones take at most 6.
_SLACK_TABLES = 40


def facts(notification: Notification) -> list[tuple[str, str]]:
    """The figures of a notification as (label, value) pairs, in display order."""
    n = notification
    rows: list[tuple[str, str]] = []
    if n.rule:
        anomaly = n.kind in (NotificationKind.ANOMALY, NotificationKind.ANOMALY_RESOLVED)
        rows.append(("Anomaly rule" if anomaly else "Budget", n.rule))
    if n.group:
        rows.append(("Group", n.group))
    if n.period:
        rows.append(("Period", n.period))
    if n.spend_usd is not None:
        rows.append(("Spend", format_usd(n.spend_usd)))
    if n.budget_usd is not None:
        rows.append(("Budget amount", format_usd(n.budget_usd)))
    if n.threshold_percent is not None:
        rows.append(("Threshold", f"{n.threshold_percent} %"))
    if n.forecast_usd is not None:
        rows.append(("Forecast", format_usd(n.forecast_usd)))
    if n.exhaustion_date:
        rows.append(("Exhausted around", n.exhaustion_date))
    rows.extend((key.replace("_", " ").capitalize(), value) for key, value in n.details.items())
    return rows


def render_text(notification: Notification) -> str:
    lines = [notification.title, "", notification.summary, ""]
    lines += [f"{label}: {value}" for label, value in facts(notification)]
    for table in notification.tables:
        lines += ["", table.title, " | ".join(table.columns)]
        lines += [" | ".join(row) for row in table.rows]
    if notification.dashboard_url:
        lines += ["", f"Dashboard: {notification.dashboard_url}"]
    lines += ["", f"Alert id: {notification.id}"]
    return "\n".join(lines) + "\n"


def render_html(notification: Notification) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(label)}</th><td>{e(value)}</td></tr>"
        for label, value in facts(notification)
    )
    link = (
        f'<p><a href="{e(notification.dashboard_url)}">Open the dashboard</a></p>'
        if notification.dashboard_url
        else ""
    )
    return (
        "<!DOCTYPE html><html><body>"
        f"<h2>{e(notification.title)}</h2>"
        f"<p>{e(notification.summary)}</p>"
        f"<table>{rows}</table>{''.join(_html_table(t) for t in notification.tables)}{link}"
        f"<p style='color:#888'>Alert id: {e(notification.id)}</p>"
        "</body></html>"
    )


def _html_table(table: Table) -> str:
    e = html.escape
    head = "".join(f"<th align='left'>{e(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return f"<h3>{e(table.title)}</h3><table><tr>{head}</tr>{body}</table>"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats only these three characters specially.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(notification: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (fallback) and ``blocks``."""
    title = _slack_escape(notification.title)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": notification.title[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _slack_escape(notification.summary)},
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{_slack_escape(label)}*\n{_slack_escape(value)}"}
        for label, value in facts(notification)
    ]
    if fields:
        # Slack allows at most 10 fields per section.
        blocks.append({"type": "section", "fields": fields[:10]})
    for table in notification.tables[:_SLACK_TABLES]:
        lines = [f"*{_slack_escape(table.title)}*", _slack_escape(" · ".join(table.columns))]
        lines += [_slack_escape(" · ".join(row)) for row in table.rows]
        text = "\n".join(lines)
        # A section's text holds at most 3,000 characters.
        text = text if len(text) <= 3000 else text[:2999] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if notification.dashboard_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open dashboard"},
                        "url": notification.dashboard_url,
                    }
                ],
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"alert id {notification.id}"}]}
    )
    return {"text": f"{title}: {_slack_escape(notification.summary)}", "blocks": blocks}


def render_json(notification: Notification) -> dict[str, Any]:
    """The documented JSON body (see module docs)."""
    n = notification

    def money(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        "version": JSON_VERSION,
        "id": n.id,
        "kind": n.kind.value,
        "title": n.title,
        "summary": n.summary,
        "created_at": n.created_at.isoformat(),
        "rule": n.rule,
        "group": n.group,
        "period": n.period,
        "threshold_percent": n.threshold_percent,
        "spend_usd": money(n.spend_usd),
        "budget_usd": money(n.budget_usd),
        "forecast_usd": money(n.forecast_usd),
        "exhaustion_date": n.exhaustion_date,
        "dashboard_url": n.dashboard_url,
        "details": dict(n.details),
        "tables": [
            {"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows]}
            for t in n.tables
        ],
    }
