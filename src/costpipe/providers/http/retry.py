"""When to try a request again, and how long to wait first.

Pure functions and a :class:`Timer` (the clock and the sleep the client uses),
so that retry behaviour is tested without waiting: a test passes a timer whose
``sleep`` records the wait and advances its ``monotonic`` clock at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from costpipe.errors import TransientError

__all__ = [
    "RETRY_STATUSES",
    "Retryable",
    "Timer",
    "next_wait",
    "retry_after_seconds",
    "with_retries",
]

T = TypeVar("T")

#: Statuses another attempt may fix, besides every 5xx.
RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(slots=True)
class Timer:
    """The time source of an HTTP client: a monotonic clock in seconds and a sleep."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class Retryable(Exception):
    """One failed attempt that another attempt may fix (internal to the client)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's requested wait: ``retry-after-ms`` first, then ``Retry-After``
    in seconds or as an HTTP date; ``None`` if absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    header = headers.get("retry-after")
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN from a hostile header
        return None
    return max(seconds, 0.0)


def next_wait(
    retry: int, hint: float | None, *, base: float, cap: float, rng: random.Random
) -> float:
    """Seconds to wait before retry number *retry* (1 for the first).

    A server's hint is honoured, never earlier than asked and a little later so
    that clients told the same Retry-After do not all return in the same
    instant; otherwise the wait doubles from *base* with jitter. Never above *cap*.
    """
    if hint is not None:
        return min(hint + rng.uniform(0, min(hint * 0.1, 1.0)), cap)
    ceiling = min(cap, base * 2.0 ** (retry - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class _RetryCount(Protocol):
    retries: int


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    instance: str,
    safe: str,
    max_retries: int,
    backoff: float,
    wait_max: float,
    rng: random.Random,
    stats: _RetryCount,
    log: Any,
    timer: Timer,
) -> T:
    """``await attempt()`` until it stops raising :class:`Retryable`, at most
    *max_retries* times again; then :class:`~costpipe.errors.TransientError`
    naming *safe* (the URL as it may be shown).

    The wait is :func:`next_wait`'s, slept on *timer*; each retry is counted on
    *stats* and logged at debug level only (the core logs the outcome once).
    """
    failures = 0
    while True:
        try:
            return await attempt()
        except Retryable as exc:
            if failures >= max_retries:
                raise TransientError(
                    f"{instance}: {safe}: {exc.reason} (gave up after {failures + 1} attempts)"
                ) from None
            failures += 1
            wait = next_wait(failures, exc.retry_after, base=backoff, cap=wait_max, rng=rng)
            stats.retries += 1
            log.debug(
                "http_retry",
                provider=instance,
                url=safe,
                attempt=failures,
                wait=round(wait, 3),
                reason=exc.reason,
            )
            await timer.sleep(wait)
