"""A real ``costpipe`` process whose JSON log lines a test can wait for.

A thread reads stderr, so waiting for an event never blocks past its
deadline even when the process prints nothing.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""


class DaemonProcess:
    def __init__(self, *args: str, cwd: Path, umask: int = -1) -> None:
        env = {k: v for k, v in os.environ.items() if k != "COSTPIPE_CONFIG"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "costpipe", "--log-format", "json", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
            umask=umask,
        )
        self.events: list[dict[str, object]] = []
        self.other_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._seen = 0
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def _take(self, timeout: float) -> bool:
        """Parse one more line; False at the end of the output or the deadline."""
        try:
            line = self._lines.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return False
        if line is None:
            self._lines.put(None)
            return False
        try:
            self.events.append(json.loads(line))
        except ValueError:
            self.other_lines.append(line)
        return True

    def wait_for(self, event: str, timeout: float = 60, **fields: object) -> dict[str, object]:
        """The next event named *event* (with *fields*) not returned before."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.events)):
                entry = self.events[index]
                if entry.get("event") == event and all(
                    entry.get(k) == v for k, v in fields.items()
                ):
                    self._seen = index + 1
                    return entry
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._take(remaining):
                names = [e.get("event") for e in self.events]
                raise AssertionError(f"no {event!r} {fields} in {names} {self.other_lines}")

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        while self._take(1):
            pass
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
