"""The simulator's control API under ``/_sim/``: truth, revisions, faults, stats, info.

Never subject to faults or authentication (the middleware only acts on the
vendors' routes)::

    GET  /_sim/truth?provider=openai|anthropic&start=ISO&end=ISO&by=day|model|project|user|total
    POST /_sim/revise           -> {"revision": n}
    GET  /_sim/faults, POST /_sim/faults (JSON object of FaultOptions fields)
    GET  /_sim/stats            -> requests per endpoint and status
    GET  /_sim/info             -> base URLs, keys, seed, now
    GET, POST, DELETE /_sim/spikes (usage spikes: :mod:`costpipe.simulator.spikes`)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Protocol

from aiohttp import web
from multidict import MultiMapping

from costpipe.simulator.faults import FaultState
from costpipe.simulator.spikes import Spikes, add_spike_routes
from costpipe.simulator.truth import BY, Totals

__all__ = ["Controlled", "add_control_routes"]


class Controlled(Protocol):
    """What the control API reads and changes (the :class:`Simulator`)."""

    faults: FaultState
    spikes: Spikes

    @property
    def revision(self) -> int: ...

    def now(self) -> int: ...

    def revise(self) -> int: ...

    def stats(self) -> dict[str, object]: ...

    def check_truth_provider(self, provider: str) -> None: ...

    def truth_at(self, provider: str, start: int, end: int, by: str) -> dict[str, Totals]: ...

    def info(self, base_url: str) -> dict[str, object]: ...


def add_control_routes(app: web.Application, sim: Controlled) -> None:
    async def truth(request: web.Request) -> web.Response:
        query = request.query
        try:
            provider = query.get("provider", "")
            sim.check_truth_provider(provider)
            start = _instant(query, "start")
            end = _instant(query, "end")
            by = query.get("by", "total")
            if by not in BY:
                raise ValueError(f"by must be one of {', '.join(BY)}")
            totals = sim.truth_at(provider, start, end, by)
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(
            {
                "provider": provider,
                "start": start,
                "end": end,
                "by": by,
                "now": sim.now(),
                "revision": sim.revision,
                "totals": {key: value.as_json() for key, value in totals.items()},
            }
        )

    async def revise(request: web.Request) -> web.Response:
        return web.json_response({"revision": sim.revise()})

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(sim.faults.options.as_dict())

    async def post_faults(request: web.Request) -> web.Response:
        try:
            changes: object = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of fault settings")
            sim.faults.update(changes)
        except (ValueError, json.JSONDecodeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(sim.faults.options.as_dict())

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(sim.stats())

    async def info(request: web.Request) -> web.Response:
        return web.json_response(sim.info(f"{request.scheme}://{request.host}"))

    app.router.add_get("/_sim/truth", truth)
    app.router.add_post("/_sim/revise", revise)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_get("/_sim/info", info)
    add_spike_routes(app, sim.spikes)


def _instant(query: MultiMapping[str], name: str) -> int:
    raw = query.get(name)
    if raw is None:
        raise ValueError(f"{name} is required")
    if raw.lstrip("-").isdigit():
        return int(raw)
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a timezone (e.g. Z)")
    return int(moment.timestamp())
