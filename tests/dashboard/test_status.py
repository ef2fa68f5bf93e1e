"""Data freshness from the daemon's status file, tolerant of its absence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from costpipe.dashboard.status import read_freshness

NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


def test_each_provider_gets_its_last_success_and_lag(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(
        json.dumps(
            {
                "providers": {
                    "openai.0": {"last_success": "2026-11-04T11:45:00Z", "last_error": None},
                    "anthropic.main": {"last_success": None, "last_error": "401 Unauthorized"},
                }
            }
        )
    )
    entries = read_freshness(tmp_path, NOW)
    assert [e.instance for e in entries] == ["anthropic.main", "openai.0"]
    assert entries[0].last_success is None
    assert entries[0].lag is None
    assert entries[0].last_error == "401 Unauthorized"
    assert timedelta(minutes=15) == entries[1].lag
    assert entries[1].last_error is None


def test_absent_or_malformed_status_shows_nothing(tmp_path: Path) -> None:
    assert read_freshness(tmp_path, NOW) == []
    (tmp_path / "status.json").write_text('{"providers": ')
    assert read_freshness(tmp_path, NOW) == []
    (tmp_path / "status.json").write_text('{"providers": {"x.0": {"last_success": "yesterday"}}}')
    [entry] = read_freshness(tmp_path, NOW)
    assert entry.last_success is None
