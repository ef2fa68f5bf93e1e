"""Configuration of a simulator: the synthetic organisations and the faults.

Everything here is plain data. Faults can be changed while the simulator runs
(``POST /_sim/faults`` or :meth:`Simulator.set_faults`); the rest is fixed at
construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["FaultOptions", "MalformedKind", "SimulatorOptions"]

MalformedKind = Literal["json", "shape"]


@dataclass(slots=True)
class FaultOptions:
    """Injected failures. Each decision is a hash of the seed, the request's
    endpoint and query and how many times that same request was seen before, so
    a run is reproducible and a retried request gets a fresh (but fixed) roll.

    Faults apply to the provider endpoints only, never to ``/_sim/*``.
    """

    rate_429: float = 0.0
    """Fraction of requests answered 429 with a ``Retry-After`` header."""
    retry_after_s: int = 1
    """Value of ``Retry-After`` on injected 429s (seconds, >= 1 as the spec says)."""
    rate_5xx: float = 0.0
    """Fraction of requests answered 500/503 (OpenAI) or 500/529 (Anthropic)."""
    slow_ms: int = 0
    """Delay added to the requests picked by ``slow_rate``."""
    slow_rate: float = 0.0
    """Fraction of requests delayed by ``slow_ms``."""
    latency_ms: int = 0
    """Fixed delay added to every provider request (for concurrency benchmarks)."""
    server_error_request: int | None = None
    """The N-th provider request (1-based, counted over all provider endpoints
    and attempts) is answered 5xx once, whatever ``rate_5xx`` rolls: a test that
    must see a server error gets one on every date, not only on lucky ones."""
    malformed_page: int | None = None
    """The N-th data page served (1-based, counted over all provider endpoints)
    is broken once; the next request for it succeeds."""
    malformed_kind: MalformedKind = "json"
    """``json``: a truncated, unparseable body; ``shape``: valid JSON of the wrong shape."""
    revoke_key: int | None = None
    """After this many authenticated requests with a provider's admin key, that
    key is answered 401 as if it had been revoked (counted per provider)."""
    redirect_to: str | None = None
    """Every provider API request (all vendors, before authentication) is
    answered ``302`` with ``Location`` set to this URL: a hostile provider
    trying to make the client carry its key, or fetch an internal URL."""
    endless_pages: bool = False
    """Every paged endpoint of every vendor answers an empty page that says
    there is more, with a fresh cursor each time, forever."""
    oversized_page_bytes: int | None = None
    """Data pages are padded (trailing JSON whitespace) to at least this many
    bytes, streamed so the simulator never holds the padding."""
    gzip_bomb_bytes: int | None = None
    """Data pages are sent ``Content-Encoding: gzip``: a small compressed body
    that inflates to this many bytes of valid JSON, compressed as it is sent."""

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply *changes* (names as the fields); raise :class:`ValueError` on an
        unknown name or a value of the wrong type, leaving ``self`` unchanged."""
        known = {f.name: f for f in dataclasses.fields(self)}
        staged = dataclasses.replace(self)
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            setattr(staged, name, _coerce(name, value))
        staged.validate()
        for name in known:
            setattr(self, name, getattr(staged, name))

    def validate(self) -> None:
        for name in ("rate_429", "rate_5xx", "slow_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        for name in ("slow_ms", "latency_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.retry_after_s < 1:
            raise ValueError("retry_after_s must be >= 1")
        for name in (
            "server_error_request",
            "malformed_page",
            "revoke_key",
            "oversized_page_bytes",
            "gzip_bomb_bytes",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or null")
        if self.redirect_to is not None and not self.redirect_to.strip():
            raise ValueError("redirect_to must be a URL or null")
        if self.malformed_kind not in ("json", "shape"):
            raise ValueError("malformed_kind must be 'json' or 'shape'")

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: object) -> object:
    floats = {"rate_429", "rate_5xx", "slow_rate"}
    ints = {"slow_ms", "latency_ms", "retry_after_s"}
    optional_ints = {"malformed_page", "revoke_key", "oversized_page_bytes", "gzip_bomb_bytes"}
    if name == "endless_pages" and isinstance(value, bool):
        return value
    if name == "redirect_to" and (value is None or isinstance(value, str)):
        return value
    # bool is an int subclass: reject it explicitly so `true` is not read as 1.
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if name in floats and isinstance(value, int | float):
        return float(value)
    if name in ints and isinstance(value, int):
        return value
    if name in optional_ints and (value is None or isinstance(value, int)):
        return value
    if name == "malformed_kind" and isinstance(value, str):
        return value
    raise ValueError(f"{name}: unexpected value {value!r}")


@dataclass(slots=True)
class SimulatorOptions:
    """The synthetic organisations, the clock and the faults.

    ``projects`` is the number of OpenAI projects and of Anthropic workspaces
    (the first workspace is the default one, reported as ``null``); ``users``
    OpenAI users; ``api_keys`` API keys of each provider; ``models_per_user``
    how many models each user (OpenAI) or key (Anthropic) uses. Raise them for
    benchmarks: rows grow with ``users * models_per_user``.
    """

    seed: int = 1
    now: datetime | None = None
    """A fixed "now" (aware); ``None`` follows the real clock."""
    projects: int = 4
    users: int = 6
    api_keys: int = 5
    models_per_user: int = 3
    awkward: bool = True
    """Include IDs with spaces, commas, ``=``, quotes, unicode and a trailing backslash."""
    hostile_names: bool = False
    """Add names a hostile provider could send (HTML, Markdown, control
    characters, CSV formulas, a very long name) to every vendor's organisation;
    see :mod:`costpipe.simulator.hostile`."""
    revision_horizon: timedelta = timedelta(hours=6)
    """How far back ``POST /_sim/revise`` changes data (late-arriving usage)."""
    openai_admin_keys: tuple[str, ...] = ()
    """Accepted OpenAI admin keys; empty derives one from the seed."""
    anthropic_admin_keys: tuple[str, ...] = ()
    """Accepted Anthropic admin keys; empty derives one from the seed."""
    anthropic_ending_at: Literal["strict", "inclusive"] = "strict"
    """How the Anthropic reports read ``ending_at``. ``strict`` (default): the
    reference's words, "Time buckets that end before this timestamp will be
    returned", so a bucket ending exactly at ``ending_at`` is left out;
    ``inclusive``: a bucket ending exactly at ``ending_at`` is served (what the
    Usage and Cost API guide's 7-day quick-start example implies)."""
    faults: FaultOptions = field(default_factory=FaultOptions)

    def validate(self) -> None:
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.projects < 1 or self.users < 1 or self.api_keys < 1:
            raise ValueError("projects, users and api_keys must be >= 1")
        if self.models_per_user < 1:
            raise ValueError("models_per_user must be >= 1")
        if self.anthropic_ending_at not in ("strict", "inclusive"):
            raise ValueError("anthropic_ending_at must be 'strict' or 'inclusive'")
        if self.revision_horizon <= timedelta(0):
            raise ValueError("revision_horizon must be positive")
        self.faults.validate()
