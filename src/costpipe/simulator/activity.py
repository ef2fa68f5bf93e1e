"""Usage activity: bursts of requests per stream, generated per hour from the seed.

A :class:`Burst` is a handful of requests of one stream at one exact second.
Each (stream, hour) pair is an independent hash, so any window is computed
without generating history, and results do not depend on the query order.

Guarantees:

* Only bursts strictly before "now" are visible (:meth:`Activity.bursts`), so the
  current bucket grows as the clock advances and the future is empty.
* A revision (``POST /_sim/revise``) made at instant ``t`` adds late bursts to
  the hours starting in ``[t - horizon, t)``, before ``t``: recent buckets change,
  older ones never do. Revisions are kept with their instant, so a revision
  stays attached to the hours it touched when the clock moves on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from costpipe.simulator.seeded import SeededHash

__all__ = ["HOUR", "Activity", "Burst", "Profile"]

HOUR = 3600
_U32 = 2**32
#: Upper bound of bursts kept in the per-hour cache (memory, not correctness).
_CACHE_BURSTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Burst:
    """Requests of one stream at one second, by disjoint token category."""

    ts: int
    stream: int
    requests: int
    uncached: int
    cached: int
    write_5m: int
    write_1h: int
    output: int
    web_search: int


@dataclass(frozen=True, slots=True)
class Profile:
    """How a stream's bursts look. ``kind`` is one of ``completions``,
    ``embeddings``, ``messages`` (Anthropic) and ``long_context`` (Anthropic
    requests with more than 200k input tokens)."""

    label: str
    kind: str


def rhythm(hour_start: int) -> float:
    """Relative activity of an hour: busy in (UTC) working hours, quiet at night
    and at weekends."""
    moment = datetime.fromtimestamp(hour_start, UTC)
    if 8 <= moment.hour < 18:
        weight = 1.0
    elif 6 <= moment.hour < 22:
        weight = 0.45
    else:
        weight = 0.12
    return weight * (0.3 if moment.weekday() >= 5 else 1.0)


def _burst(kind: str, ts: int, stream: int, w: Sequence[int], busy: float) -> Burst:
    if kind == "embeddings":
        requests = 1 + w[1] % (5 + int(50 * busy))
        return Burst(ts, stream, requests, requests * (20 + w[2] % 2000), 0, 0, 0, 0, 0)
    if kind == "completions":
        requests = 1 + w[1] % (2 + int(30 * busy))
        total = requests * (300 + w[2] % 3000)
        cached = total * (w[3] % 60) // 100
        write = total * (w[4] % 10) // 100 if w[4] % 3 == 0 else 0
        output = requests * (40 + w[5] % 900)
        return Burst(ts, stream, requests, total - cached - write, cached, write, 0, output, 0)
    if kind == "long_context":
        requests = 1 + w[1] % 3
        total = requests * (200_001 + w[2] % 300_000)
    else:
        requests = 1 + w[1] % (2 + int(30 * busy))
        total = requests * (500 + w[2] % 6000)
    cached = total * (w[3] % 70) // 100
    write_5m = total * (w[4] % 12) // 100
    write_1h = total * (w[6] % 6) // 100 if w[6] % 4 == 0 else 0
    output = requests * (60 + w[5] % 1500)
    searches = w[7] % 4 if w[7] % 5 == 0 else 0
    return Burst(
        ts,
        stream,
        requests,
        total - cached - write_5m - write_1h,
        cached,
        write_5m,
        write_1h,
        output,
        searches,
    )


class Activity:
    """The bursts of one provider's streams."""

    def __init__(
        self, seed: int, provider: str, profiles: Sequence[Profile], horizon_s: int
    ) -> None:
        self._hash = SeededHash(seed)
        self._provider = provider
        self._profiles = tuple(profiles)
        self._horizon = horizon_s
        self._revisions: list[int] = []
        self._cache: OrderedDict[int, tuple[Burst, ...]] = OrderedDict()
        self._cached = 0
        # The cache is shared by request handlers and in-process truth() calls,
        # which may run in another thread (asyncio.to_thread in tests).
        self._lock = threading.Lock()

    @property
    def revision(self) -> int:
        return len(self._revisions)

    def revise(self, at: int) -> int:
        """Record a revision made at unix second *at*; return the revision count."""
        self._revisions.append(at)
        return len(self._revisions)

    def bursts(self, lo: int, hi: int, now: int) -> list[Burst]:
        """All bursts with ``lo <= ts < min(hi, now)``, ordered by hour then stream."""
        hi = min(hi, now)
        found: list[Burst] = []
        hour = lo - lo % HOUR
        while hour < hi:
            for burst in self._hour(hour):
                if lo <= burst.ts < hi:
                    found.append(burst)
            found.extend(b for b in self._late(hour) if lo <= b.ts < hi)
            hour += HOUR
        return found

    def _hour(self, hour: int) -> tuple[Burst, ...]:
        with self._lock:
            hit = self._cache.get(hour)
            if hit is not None:
                self._cache.move_to_end(hour)
                return hit
        made = self._generate(hour)
        with self._lock:
            self._cache[hour] = made
            self._cached += len(made)
            while self._cached > _CACHE_BURSTS and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._cached -= len(dropped)
        return made

    def _generate(self, hour: int) -> tuple[Burst, ...]:
        busy = rhythm(hour)
        chance = int((0.15 + 0.75 * busy) * _U32)
        made: list[Burst] = []
        for index, profile in enumerate(self._profiles):
            w = self._hash.words(self._provider, profile.label, hour)
            if w[0] >= chance:
                continue
            for j in range(1 + w[1] % 3):
                b = self._hash.words(self._provider, profile.label, hour, j)
                made.append(_burst(profile.kind, hour + b[0] % HOUR, index, b, busy))
        made.sort(key=lambda burst: (burst.ts, burst.stream))
        return tuple(made)

    def _late(self, hour: int) -> list[Burst]:
        made: list[Burst] = []
        busy = rhythm(hour)
        for number, at in enumerate(self._revisions, start=1):
            if not at - self._horizon <= hour < at:
                continue
            span = min(HOUR, at - hour)
            for index, profile in enumerate(self._profiles):
                w = self._hash.words(self._provider, profile.label, hour, "rev", number)
                if w[0] >= _U32 // 2:
                    continue
                b = self._hash.words(self._provider, profile.label, hour, "rev", number, "burst")
                made.append(_burst(profile.kind, hour + w[1] % span, index, b, busy))
        return made
