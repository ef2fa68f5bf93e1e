"""Small durable state files under ``state_dir``: checkpoints and daemon status.

Each file is rewritten atomically (write to a temporary file, fsync, rename),
so a ``kill -9`` at any moment leaves either the old or the new version.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from costpipe.files import private_dir

__all__ = ["Checkpoints", "ProviderStatus", "StatusFile", "atomic_write_json", "read_json"]


def atomic_write_json(path: Path, data: Any) -> None:
    """Replace *path* with *data* as JSON, atomically and durably. The file is
    ``0600`` (``mkstemp``'s mode survives the rename) in a ``0700`` directory."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> Any:
    """The JSON content of *path*, or ``None`` when it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


class Checkpoints:
    """Per-provider progress: everything before ``get(instance)`` is stored.

    Run checkpoints move forward only after every sink accepted the data of a
    window piece. Backfill progress is kept separately per (instance, since,
    until), so an interrupted backfill resumes where it stopped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        raw = read_json(path) or {}
        self._run: dict[str, str] = dict(raw.get("run", {}))
        self._backfill: dict[str, str] = dict(raw.get("backfill", {}))

    def get(self, instance: str) -> datetime | None:
        value = self._run.get(instance)
        return datetime.fromisoformat(value) if value else None

    def advance(self, instance: str, moment: datetime) -> None:
        current = self.get(instance)
        if current is None or moment > current:
            self._run[instance] = moment.isoformat()
            self._save()

    @staticmethod
    def _backfill_key(instance: str, since: datetime, until: datetime) -> str:
        return f"{instance}|{since.isoformat()}|{until.isoformat()}"

    def backfill_progress(self, instance: str, since: datetime, until: datetime) -> datetime | None:
        value = self._backfill.get(self._backfill_key(instance, since, until))
        return datetime.fromisoformat(value) if value else None

    def backfill_advance(
        self, instance: str, since: datetime, until: datetime, moment: datetime
    ) -> None:
        self._backfill[self._backfill_key(instance, since, until)] = moment.isoformat()
        self._save()

    def backfill_done(self, instance: str, since: datetime, until: datetime) -> None:
        self._backfill.pop(self._backfill_key(instance, since, until), None)
        self._save()

    def _save(self) -> None:
        atomic_write_json(self.path, {"run": self._run, "backfill": self._backfill})


@dataclass(slots=True)
class ProviderStatus:
    """What the daemon knows of one provider instance's recent passes."""

    last_success: str | None = None
    last_attempt: str | None = None
    last_error: str | None = None
    state: str = "unknown"
    records: int = 0
    pages_set_aside: int = 0


@dataclass(slots=True)
class StatusFile:
    """``<state_dir>/status.json``: read by the dashboard and ``/healthz``."""

    path: Path
    providers: dict[str, ProviderStatus] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StatusFile:
        raw = read_json(path) or {}
        providers = {
            name: ProviderStatus(
                **{k: v for k, v in entry.items() if k in ProviderStatus.__slots__}
            )
            for name, entry in raw.get("providers", {}).items()
        }
        return cls(path, providers)

    def last_success(self) -> dict[str, datetime | None]:
        return {
            name: datetime.fromisoformat(s.last_success) if s.last_success else None
            for name, s in self.providers.items()
        }

    def save(self) -> None:
        atomic_write_json(
            self.path, {"providers": {n: asdict(s) for n, s in self.providers.items()}}
        )
