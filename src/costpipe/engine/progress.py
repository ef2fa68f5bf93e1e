"""A progress line per provider for `costpipe backfill`.

On a terminal the lines are redrawn in place; otherwise each update is one
plain line, so that logs and CI output stay readable.
"""

from __future__ import annotations

from typing import TextIO

__all__ = ["ProgressPrinter"]

_BAR = 24


class ProgressPrinter:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.state: dict[str, tuple[int, int, int]] = {}
        self._drawn = 0

    def update(self, instance: str, done: int, total: int, records: int) -> None:
        self.state[instance] = (done, total, records)
        if self.tty:
            self._redraw()
        else:
            self.out.write(f"{self._line(instance)}\n")
            self.out.flush()

    def _line(self, instance: str) -> str:
        done, total, records = self.state[instance]
        filled = _BAR * done // total if total else _BAR
        bar = "#" * filled + "-" * (_BAR - filled)
        return f"{instance:<20} [{bar}] {done}/{total} pieces, {records} records"

    def _redraw(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")
        for instance in sorted(self.state):
            self.out.write(f"\x1b[2K{self._line(instance)}\n")
        self._drawn = len(self.state)
        self.out.flush()

    def finish(self) -> None:
        self._drawn = 0
