"""bench/litellm_parse.py keeps working with the current tree (capture, then replay)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bench import litellm_parse
from costpipe.records import Window


def test_capture_then_replay_reports_every_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The script configures logging for a terminal; here that would stop the
    # structlog capture of the tests after it.
    monkeypatch.setattr(litellm_parse, "configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setattr(litellm_parse, "PAGES", tmp_path / "pages.pickle")
    end = litellm_parse.NOW.replace(minute=0)
    monkeypatch.setattr(litellm_parse, "WINDOW", Window(end - timedelta(hours=6), end))
    assert litellm_parse.main(["capture"]) == 0
    assert litellm_parse.main(["2"]) == 0
    out = capsys.readouterr().out
    assert "captured" in out
    for label in ("fetch path, wall", "fetch path, CPU", "decode alone, CPU"):
        assert f"{label} µs/row median" in out
    replayed = [line for line in out.splitlines() if " rows -> " in line]
    assert replayed
    assert not replayed[0].startswith("0 pages")
