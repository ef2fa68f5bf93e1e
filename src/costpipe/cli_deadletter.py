"""``costpipe deadletter list|replay``: the points a store refused for good.

``list`` shows, per configured sink, its dead-letter file, how many points it
holds and why they were refused. ``replay`` re-sends them to the sink once the
cause is fixed (a field type conflict resolved, a retention policy created):
what the store accepts leaves the file, what it refuses again stays in it with
the new reason. See :mod:`costpipe.engine.deadletters` for how a replay is made
safe to interrupt.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TextIO

from costpipe.components import Sink
from costpipe.config.settings import ComponentSpec, Settings
from costpipe.engine.deadletters import ReplayResult, dead_letter_path, replay
from costpipe.errors import ConfigError
from costpipe.files import private_dir
from costpipe.sinks.deadletter import read_entries, short_reason, summarize

__all__ = ["add_arguments", "list_dead_letters", "replay_dead_letters"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="per sink: dead-letter file, points, reasons")
    again = actions.add_parser("replay", help="re-send dead letters after fixing the cause")
    again.add_argument("--sink", action="append", help="only this sink instance (repeatable)")


def _chosen(settings: Settings, names: list[str] | None) -> list[ComponentSpec]:
    specs = list(settings.sinks)
    if names is None:
        return specs
    wanted = set(names)
    chosen = [s for s in specs if {s.instance, s.instance.split(".", 1)[1]} & wanted]
    if not chosen:
        known = ", ".join(s.instance for s in specs) or "none"
        raise ConfigError("--sink", f"no configured sink matches {sorted(wanted)} (sinks: {known})")
    return chosen


def list_dead_letters(settings: Settings, out: TextIO) -> int:
    """Print every configured sink's dead letters; always exits 0."""
    for spec in settings.sinks:
        path = dead_letter_path(settings, spec.instance)
        aside = path.with_name(path.name + ".replaying")
        reasons: Counter[str] = Counter()
        for source in (path, aside):
            if source.exists():
                reasons.update(short_reason(e.reason) for e in read_entries(source))
        total = sum(reasons.values())
        if not total:
            out.write(f"{spec.instance}: no dead letters\n")
            continue
        out.write(f"{spec.instance}: {total} point(s) in {path}\n")
        for reason, count in reasons.most_common(10):
            out.write(f"  {count} × {reason}\n")
        if len(reasons) > 10:
            out.write(f"  ... and {len(reasons) - 10} other reason(s)\n")
    return 0


def _describe(result: ReplayResult) -> str:
    text = f"{result.sink}: {result.sent} re-sent, {result.accepted} accepted"
    if result.refused:
        text += f", {result.refused} refused again ({summarize(result.reasons)})"
    if result.error:
        text += f"; stopped: {result.error}"
    if result.unsent:
        text += f"; {result.unsent} not sent"
    if not result.complete:
        text += f"; kept in {result.path}"
    return text


async def replay_dead_letters(settings: Settings, names: list[str] | None, out: TextIO) -> int:
    """Replay the chosen sinks' files; exits 1 unless every point was accepted."""
    from costpipe.engine.runtime import build_component

    complete = True
    for spec in _chosen(settings, names):
        path = dead_letter_path(settings, spec.instance)
        if not path.exists() and not path.with_name(path.name + ".replaying").exists():
            out.write(f"{spec.instance}: no dead letters\n")
            continue
        sink = build_component(settings, spec)
        assert isinstance(sink, Sink)  # a [[sinks.*]] table builds a sink
        private_dir(sink.context.state_dir)
        await sink.start()
        try:
            result = await replay(sink, path)
        finally:
            await sink.close()
        out.write(_describe(result) + "\n")
        complete = complete and result.complete
    return 0 if complete else 1
