"""Data freshness: the daemon's ``<state_dir>/status.json``, read defensively.

The daemon writes ``{"providers": {"openai.0": {"last_success": ISO-8601 UTC
or null, "last_error": str or null}}}``. The dashboard never fails because of
this file: absent, half-written or malformed, it just shows no freshness line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from costpipe.records import utc

__all__ = ["STATUS_FILE", "ProviderFreshness", "read_freshness"]

STATUS_FILE = "status.json"


@dataclass(frozen=True, slots=True)
class ProviderFreshness:
    """When a provider instance last completed a pass, and how long ago."""

    instance: str
    last_success: datetime | None
    lag: timedelta | None
    last_error: str | None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return utc(parsed)
    except ValueError:
        # A naive or garbled timestamp is shown as "never", not guessed at.
        return None


def read_freshness(state_dir: Path, now: datetime) -> list[ProviderFreshness]:
    """One entry per provider instance in the status file, sorted by name;
    ``[]`` when the file is absent or unreadable."""
    try:
        document = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    providers = document.get("providers") if isinstance(document, dict) else None
    if not isinstance(providers, dict):
        return []
    entries: list[ProviderFreshness] = []
    for instance, info in sorted(providers.items()):
        if not isinstance(info, dict):
            continue
        last = _parse_time(info.get("last_success"))
        error = info.get("last_error")
        entries.append(
            ProviderFreshness(
                instance=str(instance),
                last_success=last,
                lag=None if last is None else max(utc(now) - last, timedelta(0)),
                last_error=error if isinstance(error, str) and error else None,
            )
        )
    return entries
