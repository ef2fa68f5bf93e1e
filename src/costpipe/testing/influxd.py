"""A throw-away ``influxd`` (InfluxDB 1.x) for tests and benchmarks.

:class:`InfluxdServer` writes a minimal config into a temporary directory,
binds loopback only on free ports, and polls ``/ping`` instead of sleeping.
It can be stopped and started again on the same ports and data directory, so
tests can simulate an outage and a recovery with nothing lost on disk.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["InfluxdNotFound", "InfluxdServer", "find_influxd"]

_CONFIG = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{dir}/meta"
[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[logging]
  level = "warn"
"""


class InfluxdNotFound(RuntimeError):
    """No ``influxd`` executable on PATH."""


def find_influxd() -> str:
    """Return the path of ``influxd`` or raise :class:`InfluxdNotFound`."""
    path = shutil.which("influxd")
    if path is None:
        raise InfluxdNotFound("influxd is not on PATH (apt-get install influxdb)")
    return path


def _free_port() -> int:
    # The port is released before influxd binds it; a collision in that gap is
    # possible but rare on a test machine, and start() reports it clearly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class InfluxdServer:
    """One influxd process rooted in *directory*.

    ``url`` is stable across :meth:`stop` / :meth:`start`, so a client built
    before an outage reconnects to the same server afterwards.
    """

    def __init__(self, directory: Path, executable: str | None = None) -> None:
        self.directory = directory
        self.executable = executable or find_influxd()
        self.http_port = _free_port()
        self.rpc_port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = directory / "influxd.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start influxd and return once ``/ping`` answers 204."""
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "influxdb.conf"
        config.write_text(
            _CONFIG.format(dir=self.directory, rpc_port=self.rpc_port, http_port=self.http_port)
        )
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.executable, "-config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"influxd exited early; see {self._log_path}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"influxd did not answer /ping within {timeout}s; see {self._log_path}")

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return bool(response.status == 204)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """Stop influxd (SIGTERM, then SIGKILL) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> InfluxdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
