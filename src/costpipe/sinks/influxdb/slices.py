"""InfluxQL for the ``best`` basis: one statement per slice, added per group.

InfluxQL cannot join, so :class:`~costpipe.sinks.influxdb.reader.InfluxDBReader`
answers ``best`` as the non-overlapping slices of :func:`costpipe.query.best.best_slices`:
:func:`slice_conditions` is each slice's WHERE, :func:`merged` adds the
statements' aggregated series per tag set (integers only, never raw points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from costpipe.query.best import Slice
from costpipe.sinks.influxdb.encoder import timestamp_ns

__all__ = ["merged", "quote_string", "slice_conditions"]


def quote_string(value: str) -> str:
    """An InfluxQL string literal holding exactly *value* (the reader's too)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def slice_conditions(piece: Slice) -> list[str]:
    """The time, basis and provider-account conditions of one slice of ``best``."""
    parts = [
        f"time >= {timestamp_ns(piece.start)}",
        f"time < {timestamp_ns(piece.end)}",
        f'"cost_source" = {quote_string(piece.basis.value)}',
    ]
    # Provider and account come back from the store in their stored form.
    if piece.only is not None:
        provider, account = piece.only
        parts.append(
            f'"provider" = {quote_string(provider)} AND "account" = {quote_string(account)}'
        )
    for provider, account in piece.excluded:
        parts.append(
            f'("provider" != {quote_string(provider)} OR "account" != {quote_string(account)})'
        )
    return parts


def merged(results: Sequence[list[dict[str, Any]]], *, by_time: bool) -> list[dict[str, Any]]:
    """The series of several statements added per tag set (and per timestamp when
    *by_time*); aggregated integers only, never raw points."""
    sums: dict[tuple[tuple[str, str], ...], dict[int, int]] = {}
    for series in results:
        for item in series:
            tags: Mapping[str, str] = item.get("tags") or {}
            slot = sums.setdefault(tuple(sorted(tags.items())), {})
            for stamp, value in item["values"]:
                if value is not None:
                    at = int(stamp) if by_time else 0
                    slot[at] = slot.get(at, 0) + int(value)
    return [
        {"tags": dict(key), "values": [[at, nanos] for at, nanos in sorted(slot.items())]}
        for key, slot in sums.items()
        if slot
    ]
