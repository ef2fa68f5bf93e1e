"""Failures logged once per change of state, with a slow reminder.

A check that fails on every pass (InfluxDB down, a refused key) must not write
the same error with its full exception on every pass. :class:`FailureLog`
logs the first failure of an episode as an ERROR with the error, a failure of
another kind (a different exception type) as a new episode, then at most one
WARNING reminder every ``remind_every`` while the episode lasts (with how
long and how many times it failed), and one INFO line when the check succeeds
again. Times come from the caller (the pass's clock), so tests can drive it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

__all__ = ["DEFAULT_REMINDER", "FailureLog", "reminder_interval"]

#: The reminder interval when ``alerts.stale_after`` is not set.
DEFAULT_REMINDER = timedelta(hours=1)


def reminder_interval(stale_after: timedelta | None) -> timedelta:
    """``alerts.stale_after`` if set (the operator's idea of "too long"), else one hour."""
    return stale_after if stale_after is not None else DEFAULT_REMINDER


class _Logger(Protocol):
    def error(self, event: str, **fields: object) -> object: ...
    def warning(self, event: str, **fields: object) -> object: ...
    def info(self, event: str, **fields: object) -> object: ...


@dataclass(slots=True)
class _Episode:
    kind: str
    since: datetime
    reminded: datetime
    failures: int = 1


class FailureLog:
    """Episodes of failure per key (a rule, a check, a provider)."""

    def __init__(self, log: _Logger, remind_every: timedelta) -> None:
        self.log = log
        self.remind_every = remind_every
        self._episodes: dict[str, _Episode] = {}

    def failed(
        self, key: str, event: str, now: datetime, error: BaseException, **fields: object
    ) -> None:
        """Record a failure of *key*; log *event* with ``repr(error)`` if it starts
        an episode (or the exception type changed), a ``still_failing`` reminder if
        one is due, else nothing."""
        kind = type(error).__name__
        episode = self._episodes.get(key)
        if episode is None or episode.kind != kind:
            self._episodes[key] = _Episode(kind, now, now)
            self.log.error(event, error=repr(error), **fields)
            return
        episode.failures += 1
        if now - episode.reminded >= self.remind_every:
            episode.reminded = now
            self.log.warning(
                event,
                still_failing=True,
                since=episode.since.isoformat(),
                failures=episode.failures,
                error_type=kind,
                **fields,
            )

    def succeeded(self, key: str, event: str, **fields: object) -> None:
        """Record a success of *key*; log *event* if it ends an episode."""
        episode = self._episodes.pop(key, None)
        if episode is not None:
            self.log.info(
                event, failures=episode.failures, since=episode.since.isoformat(), **fields
            )

    def failing(self, key: str) -> bool:
        return key in self._episodes
