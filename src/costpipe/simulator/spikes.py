"""Injected spend spikes: one user's, key's, model's or project's usage multiplied.

A spike multiplies every token count and request count of the bursts of the
matching streams in ``[start, end)`` by ``factor`` (rounded down to whole
tokens), so the money the endpoints serve rises by about that factor. Spikes
are applied in :meth:`World.bursts <costpipe.simulator.world.World.bursts>`,
which both the vendors' handlers and the ground truth read: ``/_sim/truth``
includes every spike. Control API::

    GET    /_sim/spikes   -> {"spikes": [...]}
    POST   /_sim/spikes   {"dimension": "user_id", "value": "user-...", "factor": 8,
                           "start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z",
                           "provider": "openai"}   (provider optional: both)
    DELETE /_sim/spikes   -> removes them all

Dimensions are costpipe's names: ``user_id``, ``api_key_id``, ``model`` and
``project_id`` (an Anthropic workspace; Anthropic streams have no user).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction

from aiohttp import web

from costpipe.simulator.activity import Burst
from costpipe.simulator.organization import AnthropicStream, OpenAIStream

__all__ = ["DIMENSIONS", "Spike", "Spikes", "add_spike_routes"]

DIMENSIONS = ("user_id", "api_key_id", "model", "project_id")
_ATTRIBUTE = {"anthropic": {"project_id": "workspace_id", "user_id": ""}}
_MAX_SPIKES = 1000
_MAX_FACTOR = 1000


@dataclass(frozen=True, slots=True)
class Spike:
    dimension: str
    value: str
    factor: Fraction
    start: int
    end: int
    """Unix seconds, ``[start, end)``."""
    provider: str = ""
    """``openai``, ``anthropic`` or ``""`` for both."""

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"dimension must be one of {', '.join(DIMENSIONS)}")
        if not 0 < self.factor <= _MAX_FACTOR:
            raise ValueError(f"factor must be within (0, {_MAX_FACTOR}]")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.provider not in ("", "openai", "anthropic"):
            raise ValueError("provider must be 'openai', 'anthropic' or empty")

    def matches(self, provider: str, stream: OpenAIStream | AnthropicStream) -> bool:
        if self.provider and self.provider != provider:
            return False
        attribute = _ATTRIBUTE.get(provider, {}).get(self.dimension, self.dimension)
        return bool(attribute) and getattr(stream, attribute, None) == self.value

    def as_json(self) -> dict[str, object]:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "factor": str(self.factor),
            "start": self.start,
            "end": self.end,
            "provider": self.provider,
        }


def _scaled(burst: Burst, factor: Fraction) -> Burst:
    def times(count: int) -> int:
        return int(count * factor)

    return replace(
        burst,
        requests=max(1, times(burst.requests)) if burst.requests else 0,
        uncached=times(burst.uncached),
        cached=times(burst.cached),
        write_5m=times(burst.write_5m),
        write_1h=times(burst.write_1h),
        output=times(burst.output),
        web_search=times(burst.web_search),
    )


class Spikes:
    """The spikes of one simulator, shared by its worlds."""

    def __init__(self) -> None:
        self.spikes: list[Spike] = []

    def add(self, spike: Spike) -> None:
        if len(self.spikes) >= _MAX_SPIKES:
            raise ValueError(f"at most {_MAX_SPIKES} spikes")
        self.spikes.append(spike)

    def clear(self) -> None:
        self.spikes.clear()

    def apply(
        self,
        provider: str,
        streams: Sequence[OpenAIStream] | Sequence[AnthropicStream],
        bursts: list[Burst],
    ) -> list[Burst]:
        """*bursts* with every matching spike applied (spikes that overlap multiply)."""
        if not self.spikes:
            return bursts
        out: list[Burst] = []
        for burst in bursts:
            factor = Fraction(1)
            for spike in self.spikes:
                if spike.start <= burst.ts < spike.end and spike.matches(
                    provider, streams[burst.stream]
                ):
                    factor *= spike.factor
            out.append(burst if factor == 1 else _scaled(burst, factor))
        return out


def _instant(value: object, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected an ISO 8601 time or unix seconds")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a timezone (e.g. Z)")
    return int(moment.timestamp())


def spike_from_json(data: object) -> Spike:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    unknown = set(data) - {"dimension", "value", "factor", "start", "end", "provider"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    factor = data.get("factor")
    if isinstance(factor, bool) or not isinstance(factor, int | float | str):
        raise ValueError("factor: expected a number")
    value, provider = data.get("value"), data.get("provider", "")
    if not isinstance(value, str) or not isinstance(provider, str):
        raise ValueError("value and provider are strings")
    return Spike(
        dimension=str(data.get("dimension", "")),
        value=value,
        factor=Fraction(str(factor)),
        start=_instant(data.get("start"), "start"),
        end=_instant(data.get("end"), "end"),
        provider=provider,
    )


def add_spike_routes(app: web.Application, spikes: Spikes) -> None:
    def listing() -> web.Response:
        return web.json_response({"spikes": [s.as_json() for s in spikes.spikes]})

    async def get(request: web.Request) -> web.Response:
        return listing()

    async def post(request: web.Request) -> web.Response:
        try:
            spikes.add(spike_from_json(await request.json()))
        except (ValueError, json.JSONDecodeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return listing()

    async def delete(request: web.Request) -> web.Response:
        spikes.clear()
        return listing()

    app.router.add_get("/_sim/spikes", get)
    app.router.add_post("/_sim/spikes", post)
    app.router.add_delete("/_sim/spikes", delete)
