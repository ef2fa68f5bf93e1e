"""Alert history and undelivered notifications are the operator's alone: with
umask 022, ``alerts.sqlite`` and its WAL/SHM are 0600 in a 0700 directory."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from costpipe.alerts.state import AlertState


def test_alert_state_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        state = AlertState(tmp_path / "state" / "alerts")
        with state.transaction():
            state.add_unpriced("m", datetime(2026, 5, 1, tzinfo=UTC))
        found = {
            str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
            for p in sorted(tmp_path.rglob("*"))
        }
        state.close()
    finally:
        os.umask(previous)
    assert {
        "state": 0o700,
        "state/alerts": 0o700,
        "state/alerts/alerts.sqlite": 0o600,
        "state/alerts/alerts.sqlite-shm": 0o600,
        "state/alerts/alerts.sqlite-wal": 0o600,
    } == found
