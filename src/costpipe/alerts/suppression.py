"""The delivery gate: silences and maintenance windows decide whether a stored
notification is sent now, held for later, or dropped.

The outbox (:mod:`costpipe.alerts.outbox`) asks the gate about every row just
before sending it, so a silence set while a notification waits for a notifier
that is down still applies. The rule, in order:

1. an active silence that matches the notification's labels **drops** it: the
   row becomes ``silenced`` and is never sent, not even after the silence ends
   (a silence says "I know"; the next notification after it ends is sent);
2. an open maintenance window that applies **holds** it (row ``held``) until
   the window closes, then it is delivered at the next delivery run; a window
   with ``on_end = "drop"`` drops it instead (row ``silenced``);
3. anything else is delivered.

Test sends (``costpipe alerts test``) do not pass through the outbox and are
never suppressed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from costpipe.alerts.maintenance import MaintenanceWindow, open_window
from costpipe.alerts.silences import SilenceStore, alert_labels
from costpipe.config.settings import Settings
from costpipe.notification import Notification

__all__ = ["DELIVER", "Decision", "DeliveryGate", "Suppressor", "Verdict"]


class Verdict(Enum):
    DELIVER = "deliver"
    HOLD = "hold"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str = ""


DELIVER = Decision(Verdict.DELIVER)

#: Asked by the outbox for each row before it is sent.
DeliveryGate = Callable[[Notification], Decision]


class Suppressor:
    """The :data:`DeliveryGate` of one configuration and state directory."""

    def __init__(
        self,
        silences: SilenceStore,
        windows: Sequence[MaintenanceWindow],
        budget_groups: Mapping[str, str | None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.silences = silences
        self.windows = tuple(windows)
        self.budget_groups = dict(budget_groups)
        self.clock = clock

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        alerts_dir: Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Suppressor:
        windows = [MaintenanceWindow.from_config(m) for m in settings.maintenance]
        groups = {b.name: b.group_by for b in settings.budgets}
        return cls(SilenceStore(alerts_dir), windows, groups, clock)

    def __call__(self, notification: Notification) -> Decision:
        now = self.clock()
        labels = alert_labels(notification, self.budget_groups)
        silence = self.silences.matching(labels, now)
        if silence is not None:
            return Decision(Verdict.DROP, f"silence {silence.id} ({silence.describe()})")
        window = open_window(self.windows, labels, now)
        if window is None:
            return DELIVER
        if window.drops:
            return Decision(Verdict.DROP, f"maintenance window {window.name}")
        return Decision(Verdict.HOLD, f"maintenance window {window.name}")
