"""The recorder logs a failing provider once, reminds at most every interval
(times from the pass clock), and an interrupted pass keeps the failure (15.12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from costpipe.engine.metrics import DaemonMetrics
from costpipe.engine.pipeline import Outcome, PassResult
from costpipe.engine.recorder import PassRecorder
from costpipe.engine.state import StatusFile
from costpipe.records import Window

START = datetime(2026, 11, 20, 12, tzinfo=UTC)


def result(outcome: Outcome) -> PassResult:
    error = None if outcome in (Outcome.OK, Outcome.STOPPED) else "401 from the API"
    return PassResult(
        "openai.prod", Window(START - timedelta(hours=1), START), outcome, error=error
    )


def test_a_refused_key_is_logged_once_then_reminded_hourly(tmp_path: Path) -> None:
    recorder = PassRecorder(
        StatusFile(tmp_path / "status.json"), DaemonMetrics(), timedelta(hours=1)
    )
    with capture_logs() as logs:
        for minute in range(0, 125, 5):  # a pass every 5 minutes for two hours
            recorder.record_results([result(Outcome.AUTH)], START + timedelta(minutes=minute))
        recorder.record_results([result(Outcome.STOPPED)], START + timedelta(minutes=130))
        assert recorder.status.providers["openai.prod"].state == "auth"
        recorder.record_results([result(Outcome.OK)], START + timedelta(minutes=135))
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events == [
        ("provider_failed", "error"),  # 12:00
        ("provider_still_failing", "warning"),  # 13:00
        ("provider_still_failing", "warning"),  # 14:00
        ("pass_stopped", "info"),
        ("pass_done", "info"),
        ("provider_recovered", "info"),
    ]
    assert recorder.status.providers["openai.prod"].state == "ok"
