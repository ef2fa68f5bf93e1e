"""Time buckets, page planning and page cursors, as the providers do them.

Pagination is by bucket: ``limit`` is the number of buckets in a page, and every
row of a bucket comes in that page. A page never contains a bucket that starts
at or after "now".
"""

from __future__ import annotations

import base64
import binascii
import struct
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime

from costpipe.simulator.activity import Burst

__all__ = [
    "WIDTHS",
    "Bucket",
    "Page",
    "bin_bursts",
    "decode_anthropic_cursor",
    "decode_openai_cursor",
    "encode_anthropic_cursor",
    "encode_openai_cursor",
    "floor",
    "iso",
    "plan",
    "sort_key",
]

WIDTHS: dict[str, int] = {"1m": 60, "1h": 3600, "1d": 86400}
_OPENAI_CURSOR = struct.Struct(">qIq")


def floor(ts: int, width: int) -> int:
    """Snap *ts* down to a multiple of *width* (bucket edges are UTC-aligned)."""
    return ts - ts % width


def iso(ts: int) -> str:
    """RFC 3339 with a ``Z`` suffix, as Anthropic writes times."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Bucket:
    """A served bucket: reported edges ``[start, end)`` and the range ``[lo, hi)``
    whose usage it contains (narrower for a partial first bucket or a clipped
    last one)."""

    start: int
    end: int
    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class Page:
    buckets: tuple[Bucket, ...]
    next_start: int | None
    """Start of the first bucket of the next page; None when there is no more."""


def plan(
    first: int,
    width: int,
    limit: int,
    *,
    now: int,
    stop: int | None,
    clip_lo: int | None = None,
    clip_hi: int | None = None,
    whole_buckets: bool = False,
) -> Page:
    """Plan one page starting with a bucket at *first* (possibly unaligned: it
    then ends at the next aligned edge).

    Buckets are served while they start before ``now`` and before *stop*; with
    ``whole_buckets`` a bucket must also *end* at or before *stop* (Anthropic:
    "buckets that end before ending_at"). Usage is limited to
    ``[clip_lo, clip_hi)`` when given.
    """
    buckets: list[Bucket] = []
    start = first
    while len(buckets) < limit and _serves(start, width, now, stop, whole_buckets):
        end = floor(start, width) + width
        lo = start if clip_lo is None else max(start, clip_lo)
        hi = end if clip_hi is None else min(end, clip_hi)
        buckets.append(Bucket(start, end, lo, hi))
        start = end
    more = _serves(start, width, now, stop, whole_buckets)
    return Page(tuple(buckets), start if more else None)


def _serves(start: int, width: int, now: int, stop: int | None, whole: bool) -> bool:
    if start >= now:
        return False
    if stop is None:
        return True
    return floor(start, width) + width <= stop if whole else start < stop


def encode_openai_cursor(issued_at: int, next_start: int) -> str:
    """``page_`` + base64 of (issue time, nanos, next bucket start), the layout of
    OpenAI's real cursors. Opaque to clients."""
    return "page_" + base64.b64encode(_OPENAI_CURSOR.pack(issued_at, 0, next_start)).decode()


def decode_openai_cursor(cursor: str) -> int | None:
    """The next bucket start of a cursor, or None if it is not one of ours."""
    try:
        raw = base64.b64decode(cursor.removeprefix("page_"), validate=True)
        _, _, next_start = _OPENAI_CURSOR.unpack(raw)
    except (binascii.Error, struct.error, ValueError):
        return None
    return int(next_start)


def encode_anthropic_cursor(next_start: int) -> str:
    """``page_`` + base64 of the next bucket's RFC 3339 start, like Anthropic's."""
    return "page_" + base64.b64encode(iso(next_start).encode()).decode()


def decode_anthropic_cursor(cursor: str) -> int | None:
    try:
        text = base64.b64decode(cursor.removeprefix("page_"), validate=True).decode()
        return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def bin_bursts(page: Page, bursts: list[Burst]) -> list[list[Burst]]:
    """Sort *bursts* into the page's buckets by their ``[lo, hi)`` ranges."""
    los = [bucket.lo for bucket in page.buckets]
    bins: list[list[Burst]] = [[] for _ in page.buckets]
    for burst in bursts:
        i = bisect_right(los, burst.ts) - 1
        if i >= 0 and burst.ts < page.buckets[i].hi:
            bins[i].append(burst)
    return bins


def sort_key(key: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
    """Deterministic order of result rows by group key, nulls last."""
    return tuple((value is None, str(value)) for value in key)
