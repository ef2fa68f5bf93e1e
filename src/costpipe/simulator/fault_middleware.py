"""The fault middleware: injected outages and a hostile provider, for every vendor.

Faults act on both sides of authentication, as a real API's layers do: a slow
network and a redirecting proxy come before the key is looked at, a rate
limit or an overloaded backend after it, and the body is shaped last. So
:class:`FaultMiddleware` gives two aiohttp middlewares, installed around
:func:`costpipe.simulator.auth.authentication`::

    outer:  decide (seeded), delay, redirect  ->  on the way out: malformed page,
            oversized page, gzip bomb
    auth
    inner:  injected 429 / 5xx, endless pages
    route:  parameter validation (400), the page

Decisions are made for every request of a vendor that injects failures, before
authentication, so a retried request gets a fresh roll whatever its answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

from aiohttp import web
from aiohttp.typedefs import Handler

from costpipe.simulator.faults import Decision, FaultState
from costpipe.simulator.hostile_pages import send_gzip_bomb, send_padded
from costpipe.simulator.vendor import provider_request
from costpipe.simulator.wire import dumps

__all__ = ["FaultMiddleware"]

_DECISION = web.RequestKey("costpipe_sim_decision", Decision)


class FaultMiddleware:
    """Applies :class:`~costpipe.simulator.faults.FaultState` to provider requests."""

    def __init__(self, faults: FaultState, now: Callable[[], int]) -> None:
        self._faults = faults
        self._now = now

    @web.middleware
    async def outer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        context = provider_request(request)
        if context is None:
            return await handler(request)
        options = self._faults.options
        if context.vendor.injects_failures:
            decision = self._faults.decide(_fingerprint(request))
            request[_DECISION] = decision
            if decision.delay_ms:
                await asyncio.sleep(decision.delay_ms / 1000)
        if options.redirect_to is not None:
            return web.Response(status=302, headers={"Location": options.redirect_to})
        response = await handler(request)
        if response.status != 200 or not isinstance(response, web.Response):
            return response
        if context.vendor.injects_failures and self._faults.page_is_malformed():
            response = self._malformed(response)
        if options.gzip_bomb_bytes is not None:
            return await send_gzip_bomb(request, response, options.gzip_bomb_bytes)
        if options.oversized_page_bytes is not None:
            return await send_padded(request, response, options.oversized_page_bytes)
        return response

    @web.middleware
    async def inner(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        context = provider_request(request)
        if context is None:
            return await handler(request)
        vendor = context.vendor
        decision = request.get(_DECISION)
        if decision is not None and decision.outcome == "rate_limited":
            return context.render(vendor.rate_limited(self._faults.options.retry_after_s))
        if decision is not None and decision.outcome == "server_error":
            return context.render(vendor.server_error(decision.variant))
        if self._faults.options.endless_pages:
            page = vendor.endless_page(request, self._faults.next_endless_page(), self._now())
            if page is not None:
                return vendor.page(dumps(page), context.request_id)
        return await handler(request)

    def _malformed(self, response: web.Response) -> web.Response:
        body = response.body
        assert isinstance(body, bytes)
        if self._faults.options.malformed_kind == "json":
            broken = body[: max(1, len(body) // 2)]
        else:
            payload = json.loads(body, parse_float=Decimal)
            data = payload.get("data") if isinstance(payload, dict) else payload
            broken = dumps({"object": "page", "data": {"buckets": data}, "has_more": "maybe"})
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return web.Response(status=response.status, body=broken, headers=headers)


def _fingerprint(request: web.Request) -> str:
    return request.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))
