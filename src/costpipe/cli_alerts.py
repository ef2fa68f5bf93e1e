"""``costpipe alerts list|silence|unsilence|test``: alert operations from the shell.

``list`` reads the alert database (``<state_dir>/alerts``) the daemon writes:
each alert's latest notification (firing or resolved, and whether it was sent,
silenced, held or failed), the silences, the maintenance windows open now and
the delivery failures. ``silence`` and ``unsilence`` write the silences file,
which the daemon reads at every delivery, so they take effect while it runs.
``test`` sends one clearly marked test message through a configured notifier,
once, without retries and outside the outbox, and exits 1 with the reason if
it was not accepted. See ``docs/alerts.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from costpipe.alerts.maintenance import MaintenanceWindow
from costpipe.alerts.matchers import Matcher, Operator, parse_matcher
from costpipe.alerts.outbox import notification_from_json
from costpipe.alerts.silences import SilenceStore, alert_labels
from costpipe.alerts.state import AlertState
from costpipe.config.durations import parse_duration
from costpipe.config.settings import Settings
from costpipe.errors import ConfigError, CostpipeError
from costpipe.notification import Notification, NotificationKind
from costpipe.notifiers.headers import header_text

__all__ = ["add_arguments", "run"]

#: Notification kinds that are not alerts with a state of their own.
_NOT_ALERTS = {
    NotificationKind.TEST.value,
    NotificationKind.DIGEST.value,
    NotificationKind.RESET.value,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="firing and resolved alerts, silences, maintenance, delivery failures"
    )
    listing.add_argument("--format", choices=["table", "json"], default="table")
    silence = actions.add_parser("silence", help="mute matching alerts for a while")
    silence.add_argument(
        "matchers",
        nargs="*",
        metavar="MATCHER",
        help="label matchers: user_id=alice, model=~gpt-5.*",
    )
    silence.add_argument("--rule", help="only this rule (same as rule=NAME)")
    silence.add_argument("--group", help="only this group value (same as group=VALUE)")
    silence.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h or 3d")
    silence.add_argument("--comment", required=True, help="why (shown in alerts list)")
    unsilence = actions.add_parser("unsilence", help="end a silence now")
    unsilence.add_argument("silence_id", metavar="ID")
    test = actions.add_parser("test", help="send one marked test message through a notifier")
    test.add_argument("--notifier", required=True, help="notifier instance, e.g. email.ops or ops")


def _alerts_dir(settings: Settings) -> Path:
    return settings.pipeline.state_dir / "alerts"


def run(
    args: argparse.Namespace, settings: Settings, out: TextIO, now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC)
    if args.action == "list":
        return list_alerts(settings, out, args.format, now)
    if args.action == "silence":
        return add_silence(settings, args, out, now)
    if args.action == "unsilence":
        found = SilenceStore(_alerts_dir(settings)).expire(args.silence_id, now)
        if found is None:
            raise ConfigError("ID", f"no active silence has the id {args.silence_id!r}")
        out.write(f"silence {found.id} ended ({found.describe()})\n")
        return 0
    return asyncio.run(send_test(settings, args.notifier, out, now))


def add_silence(settings: Settings, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    matchers: list[Matcher] = []
    try:
        if args.rule is not None:
            matchers.append(Matcher("rule", Operator.EQUAL, args.rule))
        if args.group is not None:
            matchers.append(Matcher("group", Operator.EQUAL, args.group))
        matchers += [parse_matcher(text) for text in args.matchers]
    except ValueError as exc:
        raise ConfigError("MATCHER", str(exc)) from None
    if not matchers:
        raise ConfigError("MATCHER", "give --rule, --group or at least one matcher")
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise ConfigError("--for", str(exc)) from None
    if duration.total_seconds() <= 0:
        raise ConfigError("--for", "must be positive")
    silence = SilenceStore(_alerts_dir(settings)).add(matchers, now, now + duration, args.comment)
    out.write(
        f"silence {silence.id} until {silence.ends_at.isoformat(timespec='minutes')}"
        f" ({silence.describe()})\n"
    )
    return 0


def _state(state: AlertState, n: Notification, kind: str) -> str:
    """``firing`` or ``resolved`` from the latest notification; a budget alert is
    firing only while one of its slots is active in its period (``ended`` once the
    period is over or the spend was revised under it without a resolved notice)."""
    if n.kind.value.endswith("resolved"):
        return "resolved"
    if kind == "budget":
        active = state.db.execute(
            "SELECT 1 FROM budget_slots WHERE rule = ? AND grp = ? AND period = ? AND active = 1",
            (n.rule, n.group, n.period),
        ).fetchone()
        return "firing" if active else "ended"
    if n.kind is NotificationKind.STALE:
        return "firing" if state.stale_source(n.group) is not None else "resolved"
    return "firing"


def _alert_rows(settings: Settings, state: AlertState) -> list[dict[str, Any]]:
    """Each alert's latest notification (per family, rule and group), newest first."""
    groups = {b.name: b.group_by for b in settings.budgets}
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    rows = state.db.execute(
        "SELECT payload, target, status, last_error FROM outbox ORDER BY seq"
    ).fetchall()
    for payload, target, status, error in rows:
        n = notification_from_json(payload)
        if n.kind.value in _NOT_ALERTS:
            continue
        labels = alert_labels(n, groups)
        key = (labels["kind"], n.rule, n.group)
        entry = latest.get(key)
        if entry is None or entry["id"] != n.id:
            entry = {
                "state": _state(state, n, labels["kind"]),
                "kind": labels["kind"],
                "rule": n.rule,
                "group": n.group,
                "title": n.title,
                "since": n.created_at.isoformat(),
                "id": n.id,
                "delivery": {},
            }
            latest[key] = entry
        entry["delivery"][target] = status if not error else f"{status}: {error}"
    return sorted(latest.values(), key=lambda e: e["since"], reverse=True)


def _report(settings: Settings, now: datetime) -> dict[str, Any]:
    alerts_dir = _alerts_dir(settings)
    state = AlertState(alerts_dir)
    try:
        alerts = _alert_rows(settings, state)
        failures = [
            {
                "notification": r[0],
                "notifier": r[1],
                "status": r[2],
                "attempts": r[3],
                "error": r[4],
            }
            for r in state.db.execute(
                "SELECT id, target, status, attempts, last_error FROM outbox"
                " WHERE status IN ('failed', 'rejected') ORDER BY seq"
            )
        ]
    finally:
        state.close()
    silences = [
        {
            "id": s.id,
            "matchers": [str(m) for m in s.matchers],
            "starts_at": s.starts_at.isoformat(),
            "ends_at": s.ends_at.isoformat(),
            "comment": s.comment,
        }
        for s in SilenceStore(alerts_dir).active(now)
    ]
    windows = []
    for config in settings.maintenance:
        until = MaintenanceWindow.from_config(config).open_until(now)
        if until is not None:
            windows.append(
                {"name": config.name, "until": until.isoformat(), "on_end": config.on_end}
            )
    return {
        "alerts": alerts,
        "silences": silences,
        "maintenance": windows,
        "delivery_failures": failures,
    }


def list_alerts(settings: Settings, out: TextIO, fmt: str, now: datetime) -> int:
    """Print the alerts' state; always exits 0."""
    report = _report(settings, now)
    if fmt == "json":
        out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return 0
    _section(
        out,
        "ALERTS",
        [("STATE", "KIND", "RULE", "GROUP", "SINCE", "DELIVERY")]
        + [
            (
                a["state"],
                a["kind"],
                a["rule"],
                a["group"],
                a["since"][:16],
                ", ".join(f"{t} {s}" for t, s in sorted(a["delivery"].items())),
            )
            for a in report["alerts"]
        ],
    )
    _section(
        out,
        "SILENCES",
        [("ID", "UNTIL", "MATCHERS", "COMMENT")]
        + [
            (s["id"], s["ends_at"][:16], ", ".join(s["matchers"]), s["comment"])
            for s in report["silences"]
        ],
    )
    _section(
        out,
        "MAINTENANCE",
        [("WINDOW", "UNTIL", "ON END")]
        + [(w["name"], w["until"][:16], w["on_end"]) for w in report["maintenance"]],
    )
    _section(
        out,
        "DELIVERY FAILURES",
        [("NOTIFIER", "STATUS", "ATTEMPTS", "NOTIFICATION", "ERROR")]
        + [
            (f["notifier"], f["status"], str(f["attempts"]), f["notification"], f["error"])
            for f in report["delivery_failures"]
        ],
    )
    return 0


def _section(out: TextIO, title: str, rows: Sequence[Sequence[str]]) -> None:
    out.write(f"{title}\n")
    if len(rows) == 1:
        out.write("  none\n\n")
        return
    # Names come from provider data: one line of printable text each, so a name
    # cannot break the table or send escape sequences to the terminal.
    rows = [[header_text(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
        out.write("  " + line.rstrip() + "\n")
    out.write("\n")


def marked_test_notification(instance: str, now: datetime) -> Notification:
    """A message no one can take for a real alert; a fresh id, so a receiver never drops it."""
    return Notification(
        id=f"test-{secrets.token_hex(8)}",
        kind=NotificationKind.TEST,
        title="TEST: costpipe test alert, no action needed",
        summary=(
            f"This is a test message sent by `costpipe alerts test` through {instance}"
            f" at {now.isoformat(timespec='seconds')}. It is not an alert."
        ),
        created_at=now,
        labels={"kind": "test"},
    )


async def send_test(settings: Settings, name: str, out: TextIO, now: datetime) -> int:
    """Send one test message; 0 if the notifier accepted it, 1 otherwise."""
    from costpipe.components import Notifier
    from costpipe.engine.runtime import build_component
    from costpipe.files import private_dir

    specs = [s for s in settings.notifiers if name in (s.instance, s.instance.split(".", 1)[1])]
    if len(specs) != 1:
        known = ", ".join(s.instance for s in settings.notifiers) or "none"
        what = "matches" if not specs else "is ambiguous between"
        raise ConfigError("--notifier", f"{name!r} {what} no single notifier (notifiers: {known})")
    notifier = build_component(settings, specs[0])
    assert isinstance(notifier, Notifier)  # a [[notifiers.*]] table builds a notifier
    notification = marked_test_notification(notifier.instance, now)
    try:
        private_dir(notifier.context.state_dir)
        await notifier.start()
        try:
            await notifier.send(notification)
        finally:
            await notifier.close()
    except CostpipeError as exc:
        out.write(f"{notifier.instance}: FAILED, test message not delivered: {exc}\n")
        return 1
    except Exception as exc:  # a plugin bug: say what, never a traceback
        out.write(f"{notifier.instance}: FAILED, unexpected {type(exc).__name__}\n")
        return 1
    out.write(f"{notifier.instance}: test message {notification.id} delivered\n")
    return 0
