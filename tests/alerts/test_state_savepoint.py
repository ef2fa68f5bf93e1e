"""One alert-state transaction per pass, with a savepoint per rule: a rule that
fails half-way leaves none of its changes, and the others' changes commit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from costpipe.alerts.state import AlertState, SlotState

NOW = datetime(2026, 11, 10, tzinfo=UTC)


def half_way(state: AlertState) -> None:
    """A rule that writes, then fails."""
    with state.savepoint():
        state.start_period("bad", "month:2026-11-01")
        state.put_slot("bad", "", "month:2026-11-01", SlotState("80", True, 1, 0, NOW))
        _ = 1 / 0


def test_a_failed_savepoint_undoes_only_its_own_changes(tmp_path: Path) -> None:
    state = AlertState(tmp_path)
    with state.transaction():
        state.start_period("good", "month:2026-11-01")
        state.put_slot("good", "", "month:2026-11-01", SlotState("80", True, 1, 0, NOW))
        with pytest.raises(ZeroDivisionError):
            half_way(state)
        with state.savepoint():
            state.put_slot("good", "", "month:2026-11-01", SlotState("100", True, 1, 0, NOW))
    state.close()
    reopened = AlertState(tmp_path)
    assert reopened.rule_period("bad") is None
    assert reopened.slots("bad", "", "month:2026-11-01") == {}
    assert set(reopened.slots("good", "", "month:2026-11-01")) == {"80", "100"}
    reopened.close()


def test_a_savepoint_needs_a_transaction(tmp_path: Path) -> None:
    state = AlertState(tmp_path)
    with pytest.raises(RuntimeError, match="transaction"), state.savepoint():
        pass
    state.close()
