"""Deterministic fault decisions and the request counters behind ``/_sim/stats``.

A decision for a request is ``hash(seed, fingerprint, attempt)`` where the
fingerprint is the endpoint and its sorted query and ``attempt`` counts earlier
requests with the same fingerprint. A test therefore sees the same faults on
every run, and a client that retries gets a new, fixed, roll.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from costpipe.simulator.options import FaultOptions
from costpipe.simulator.seeded import SeededHash

__all__ = ["Decision", "FaultState"]

_U32 = 2**32


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one provider request."""

    outcome: Literal["ok", "rate_limited", "server_error"]
    delay_ms: int
    variant: int
    """Picks among equivalent failures (e.g. 500 vs 503/529)."""


class FaultState:
    """Fault options plus the counters that make them act deterministically."""

    def __init__(self, seed: int, options: FaultOptions) -> None:
        self._hash = SeededHash(seed)
        self.options = options
        self._attempts: Counter[str] = Counter()
        self._pages = 0
        self._requests_seen = 0
        self._endless_pages = 0
        self._key_uses: Counter[str] = Counter()
        self.requests: Counter[tuple[str, int]] = Counter()

    def update(self, changes: Mapping[str, object]) -> None:
        """Change faults at runtime. Setting ``malformed_page`` or ``revoke_key``
        restarts its count, so "the 2nd page from now" means what it says."""
        self.options.update(changes)
        if "malformed_page" in changes:
            self._pages = 0
        if "server_error_request" in changes:
            self._requests_seen = 0
        if "revoke_key" in changes:
            self._key_uses.clear()

    def decide(self, fingerprint: str) -> Decision:
        attempt = self._attempts[fingerprint]
        self._attempts[fingerprint] += 1
        w = self._hash.words("fault", fingerprint, attempt)
        o = self.options
        delay = o.latency_ms + (o.slow_ms if w[2] < o.slow_rate * _U32 else 0)
        self._requests_seen += 1
        if o.server_error_request == self._requests_seen:
            return Decision("server_error", delay, w[3])
        if w[0] < o.rate_429 * _U32:
            return Decision("rate_limited", delay, w[3])
        if w[1] < o.rate_5xx * _U32:
            return Decision("server_error", delay, w[3])
        return Decision("ok", delay, w[3])

    def key_revoked(self, provider: str) -> bool:
        """Count one authenticated use of *provider*'s admin key; True once the
        ``revoke_key`` budget is spent (that request and all later ones fail)."""
        limit = self.options.revoke_key
        if limit is None:
            return False
        self._key_uses[provider] += 1
        return self._key_uses[provider] > limit

    def page_is_malformed(self) -> bool:
        """Count one data page about to be served; True for the chosen one."""
        self._pages += 1
        return self.options.malformed_page == self._pages

    def next_endless_page(self) -> int:
        """Number one more endless page: its cursor is never served again."""
        self._endless_pages += 1
        return self._endless_pages

    def record(self, endpoint: str, status: int) -> None:
        self.requests[(endpoint, status)] += 1

    def stats(self) -> dict[str, object]:
        """Requests per endpoint and status, e.g. ``{"by_endpoint": {"/v1/organization/costs":
        {"200": 3, "429": 1}}, "total": 4}``."""
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), count in sorted(self.requests.items()):
            by_endpoint.setdefault(endpoint, {})[str(status)] = count
        return {"by_endpoint": by_endpoint, "total": sum(self.requests.values())}
