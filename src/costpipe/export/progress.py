"""A one-line progress bar for ``costpipe export``, drawn on a terminal only.

Rows arrive in period order from SQLite (by series from InfluxDB), so the bar
shows how far through the range the latest period is, with the rows written.
Off a terminal (a pipe, a log, CI) nothing is drawn.
"""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

__all__ = ["ExportProgress"]

_BAR = 30


class ExportProgress:
    def __init__(self, out: TextIO, start: datetime, end: datetime) -> None:
        self.out = out
        self.enabled = out.isatty()
        self.start = start
        self.end = end
        self.furthest = start
        self.rows = 0

    def update(self, rows: int, reached: datetime) -> None:
        self.rows += rows
        self.furthest = max(self.furthest, reached)
        if not self.enabled:
            return
        span = (self.end - self.start).total_seconds() or 1.0
        share = min(max((self.furthest - self.start).total_seconds() / span, 0.0), 1.0)
        filled = int(_BAR * share)
        bar = "#" * filled + "-" * (_BAR - filled)
        self.out.write(
            f"\r\x1b[2Kexport [{bar}] {share:4.0%} {self.rows:,} rows "
            f"through {self.furthest:%Y-%m-%d %H:%M}"
        )
        self.out.flush()

    def finish(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()
