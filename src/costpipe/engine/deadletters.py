"""Points a store refused for good, as the core sees them: reported, summed up, re-sent.

A sink that keeps dead letters exposes its
:class:`~costpipe.sinks.deadletter.DeadLetterFile` as ``dead_letters`` (the
InfluxDB sink does). The core never looks further into the sink than that:

* :func:`refusal_lines`: one line per sink for ``backfill`` and ``run --once``
  (how many points, why, where they are, the command that re-sends them);
* ``/healthz`` and ``/metrics`` read :func:`dead_letter_files` of the running sinks;
* :func:`replay` re-sends a file through a started sink after the cause was fixed.

Replay is safe to interrupt: the file is first renamed to
``dead-letter.jsonl.replaying`` (a later replay picks a leftover one up again);
what the store refuses again is appended to a new ``dead-letter.jsonl`` by the
sink itself, what was not sent (the store went away, an unreadable line) is
appended back, and only then is the renamed file removed. Re-sending a point
the store already holds is harmless: writes are idempotent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costpipe.components import Sink
from costpipe.config.settings import Settings
from costpipe.recordcodec import record_from_json
from costpipe.records import CostRecord
from costpipe.sinks.deadletter import (
    FILE_NAME,
    DeadLetterFile,
    append_locked,
    read_entries,
    short_reason,
    summarize,
    take_aside,
)

__all__ = [
    "ReplayResult",
    "dead_letter_file",
    "dead_letter_files",
    "dead_letter_path",
    "refusal_lines",
    "replay",
    "replay_command",
]

#: Records re-sent per write during a replay.
REPLAY_BATCH = 5000


def dead_letter_file(sink: object) -> DeadLetterFile | None:
    """The dead-letter file *sink* keeps (its ``dead_letters`` attribute), if any."""
    found = getattr(sink, "dead_letters", None)
    return found if isinstance(found, DeadLetterFile) else None


def dead_letter_files(sinks: Iterable[object]) -> list[DeadLetterFile]:
    return [f for f in map(dead_letter_file, sinks) if f is not None]


def dead_letter_path(settings: Settings, instance: str) -> Path:
    """Where sink *instance* keeps its dead letters (``<state_dir>/sinks/<instance>/``)."""
    return settings.pipeline.state_dir / "sinks" / instance / FILE_NAME


def replay_command(instance: str) -> str:
    return f"costpipe deadletter replay --sink {instance}"


def refusal_lines(files: Iterable[DeadLetterFile]) -> list[str]:
    """One line per sink that refused points in this process."""
    return [
        f"sink {f.sink}: {f.count} point(s) refused by the store ({summarize(f.reasons)});"
        f" kept in {f.path}; fix the cause, then run: {replay_command(f.sink)}"
        for f in files
        if f.count
    ]


@dataclass(slots=True)
class ReplayResult:
    sink: str
    path: Path
    sent: int = 0
    """Records offered to the store."""
    refused: int = 0
    """Of those, refused again (back in the dead-letter file)."""
    unsent: int = 0
    """Lines put back without being offered (unreadable, or the store failed)."""
    reasons: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    """Why the replay stopped early, if it did."""

    @property
    def accepted(self) -> int:
        return self.sent - self.refused

    @property
    def complete(self) -> bool:
        return not (self.refused or self.unsent or self.error)


def _take_aside(path: Path) -> Path:
    """Move *path* to its ``.replaying`` name, joining a leftover of an interrupted
    replay; a sink appending at the same time (a running daemon) loses nothing."""
    aside = path.with_name(path.name + ".replaying")
    take_aside(path, aside)
    return aside


async def replay(sink: Sink[Any], path: Path, batch: int = REPLAY_BATCH) -> ReplayResult:
    """Re-send the dead letters at *path* through the started *sink*; see the module doc."""
    result = ReplayResult(sink.instance, path)
    aside = _take_aside(path)
    if not aside.exists():
        return result
    own = dead_letter_file(sink)
    refused_before = own.count if own is not None else 0
    reasons_before = Counter(own.reasons) if own is not None else Counter[str]()
    keep: list[bytes] = []
    pending: list[tuple[bytes, CostRecord]] = []

    async def send() -> None:
        if result.error is None:
            try:
                await sink.write([record for _raw, record in pending])
                result.sent += len(pending)
            except Exception as exc:  # the store went away or refused the credentials
                result.error = short_reason(f"{type(exc).__name__}: {exc}")
        if result.error is not None:
            keep.extend(raw for raw, _record in pending)
        pending.clear()

    for entry in read_entries(aside):
        try:
            if entry.record is None:
                raise ValueError(entry.reason)
            pending.append((entry.raw, record_from_json(entry.record)))
        except (ValueError, KeyError, TypeError, ArithmeticError):
            keep.append(entry.raw)
            continue
        if len(pending) >= batch:
            await send()
    if pending:
        await send()
    await sink.flush()
    if keep:
        append_locked(path, b"".join(keep))
    aside.unlink()
    result.unsent = len(keep)
    if own is not None:
        result.refused = own.count - refused_before
        result.reasons = own.reasons - reasons_before
    return result
