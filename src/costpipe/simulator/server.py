"""The simulator: one aiohttp app serving both providers, plus its control API.

Routes (``P`` is the port)::

    OpenAI     base_url http://127.0.0.1:P/v1
      GET  /v1/organization/costs
      GET  /v1/organization/usage/completions
      GET  /v1/organization/usage/embeddings
    Anthropic  base_url http://127.0.0.1:P
      GET  /v1/organizations/usage_report/messages
      GET  /v1/organizations/cost_report
    Control (never subject to faults)
      GET  /_sim/truth?provider=openai|anthropic&start=ISO&end=ISO&by=day|model|project|user|total
      POST /_sim/revise           -> {"revision": n}
      GET  /_sim/faults, POST /_sim/faults (JSON object of FaultOptions fields)
      GET  /_sim/stats            -> requests per endpoint and status
      GET  /_sim/info             -> base URLs, keys, seed, now

Order of checks on a provider request: latency/slowness, authentication (401
unknown key, 403 OpenAI project key, 401 revoked key), Anthropic's
``anthropic-version`` header (400), injected 429/5xx, parameter validation
(400), then the page (possibly malformed once).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from costpipe.simulator import anthropic_api, litellm_api, openai_api, openrouter_api
from costpipe.simulator.faults import FaultState
from costpipe.simulator.hostile_pages import (
    anthropic_endless_page,
    openai_endless_page,
    send_gzip_bomb,
    send_padded,
)
from costpipe.simulator.options import SimulatorOptions
from costpipe.simulator.seeded import SeededHash
from costpipe.simulator.truth import BY, Totals, compute_truth
from costpipe.simulator.wire import BadRequest, dumps
from costpipe.simulator.world import AnthropicWorld, OpenAIWorld

__all__ = ["Simulator", "run_simulator"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PageBuilder = Callable[[web.Request, int], dict[str, object]]

_OPENAI_PATHS = {
    "/v1/organization/costs",
    "/v1/organization/usage/completions",
    "/v1/organization/usage/embeddings",
}


class Simulator:
    """A wire-faithful fake of the OpenAI and Anthropic admin billing/usage APIs.

    Usable in-process (:meth:`truth`, :meth:`revise`, :meth:`set_faults`) and
    over HTTP once :meth:`start`-ed. Not thread-safe for writes: call
    :meth:`revise` and :meth:`set_faults` from the event loop that serves.
    """

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.options = options or SimulatorOptions()
        self.options.validate()
        self.openai = OpenAIWorld(self.options)
        self.anthropic = AnthropicWorld(self.options)
        hostile = self.options.hostile_names
        self.openrouter = openrouter_api.OpenRouterWorld(self.options.seed, hostile)
        self.litellm = litellm_api.LiteLLMWorld(self.options.seed, hostile)
        self.faults = FaultState(self.options.seed, self.options.faults)
        self._ids = SeededHash(self.options.seed)
        self._served = 0
        self._endless_served = 0
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- identity ---------------------------------------------------------------

    @property
    def openai_admin_key(self) -> str:
        return self.openai.org.admin_keys[0]

    @property
    def openai_project_key(self) -> str:
        """A valid non-admin key: the admin endpoints answer it 403."""
        return self.openai.org.project_key

    @property
    def anthropic_admin_key(self) -> str:
        return self.anthropic.org.admin_keys[0]

    @property
    def anthropic_api_key(self) -> str:
        """A valid non-admin (workspace) key: the Admin API answers it 403."""
        return self.anthropic.org.api_key

    @property
    def base_url(self) -> str:
        """``http://host:port`` once started (also Anthropic's base URL)."""
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def openrouter_base_url(self) -> str:
        return self.base_url + "/api/v1"

    @property
    def litellm_base_url(self) -> str:
        return self.base_url

    def now_datetime(self) -> datetime:
        """:meth:`now` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    def now(self) -> int:
        """The simulator's "now" in unix seconds (fixed, or the real clock)."""
        if self.options.now is not None:
            return int(self.options.now.timestamp())
        return int(time.time())

    # -- in-process API -----------------------------------------------------------

    def truth(
        self, provider: str, start: datetime, end: datetime, by: str = "total"
    ) -> dict[str, Totals]:
        """Exact totals of what the simulator serves for ``[start, end)``; see
        :mod:`costpipe.simulator.truth` for the meaning of every figure."""
        for moment in (start, end):
            if moment.tzinfo is None:
                raise ValueError("truth() needs aware datetimes")
        world = self._world(provider)
        return compute_truth(world, int(start.timestamp()), int(end.timestamp()), self.now(), by)

    def revise(self) -> int:
        """Make late data arrive now: recent buckets of both providers change."""
        at = self.now()
        self.openai.activity.revise(at)
        return self.anthropic.activity.revise(at)

    @property
    def revision(self) -> int:
        return self.openai.activity.revision

    def set_faults(self, **changes: object) -> None:
        """Change faults at runtime (names as :class:`FaultOptions` fields)."""
        self.faults.update(changes)

    def stats(self) -> dict[str, object]:
        return self.faults.stats()

    def _world(self, provider: str) -> OpenAIWorld | AnthropicWorld:
        if provider == "openai":
            return self.openai
        if provider == "anthropic":
            return self.anthropic
        raise ValueError("provider must be 'openai' or 'anthropic'")

    # -- serving ------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count, self._hostile])
        openai_pages: dict[str, PageBuilder] = {
            "/v1/organization/costs": lambda r, now: openai_api.costs_page(
                r.query, self.openai, now
            ),
            "/v1/organization/usage/completions": lambda r, now: openai_api.usage_page(
                r.query, self.openai, "completions", now
            ),
            "/v1/organization/usage/embeddings": lambda r, now: openai_api.usage_page(
                r.query, self.openai, "embeddings", now
            ),
        }
        anthropic_pages: dict[str, PageBuilder] = {
            "/v1/organizations/usage_report/messages": lambda r, now: anthropic_api.usage_page(
                r.query, self.anthropic, now, _beta(r)
            ),
            "/v1/organizations/cost_report": lambda r, now: anthropic_api.cost_page(
                r.query, self.anthropic, now
            ),
        }
        for path, build in openai_pages.items():
            app.router.add_get(path, self._openai_handler(build))
        for path, build in anthropic_pages.items():
            app.router.add_get(path, self._anthropic_handler(build))
        # OpenRouter and LiteLLM fakes (their own modules; no injected faults).
        openrouter_api.add_routes(app, self.openrouter, self.now_datetime)
        litellm_api.add_routes(
            app, self.litellm, self.now_datetime, lambda: self.faults.options.endless_pages
        )
        app.router.add_get("/_sim/truth", self._truth)
        app.router.add_post("/_sim/revise", self._revise)
        app.router.add_get("/_sim/faults", self._get_faults)
        app.router.add_post("/_sim/faults", self._post_faults)
        app.router.add_get("/_sim/stats", self._stats)
        app.router.add_get("/_sim/info", self._info)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on *host*:*port* (0 picks a free port); return the base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound_port = sockets[0].getsockname()[1] if sockets else port
        self._base_url = f"http://{host}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._base_url = None

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        endpoint = resource.canonical if resource is not None else "(unknown)"
        try:
            response = await handler(request)
        except web.HTTPException as error:
            self.faults.record(endpoint, error.status)
            raise
        self.faults.record(endpoint, response.status)
        return response

    @web.middleware
    async def _hostile(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Redirects, oversized pages and gzip bombs, on every vendor's API."""
        if request.path.startswith("/_sim/"):
            return await handler(request)
        options = self.faults.options
        if options.redirect_to is not None:
            return web.Response(status=302, headers={"Location": options.redirect_to})
        response = await handler(request)
        if response.status != 200 or not isinstance(response, web.Response):
            return response
        if options.gzip_bomb_bytes is not None:
            return await send_gzip_bomb(request, response, options.gzip_bomb_bytes)
        if options.oversized_page_bytes is not None:
            return await send_padded(request, response, options.oversized_page_bytes)
        return response

    def _endless(self) -> int | None:
        """The number of the next endless page, or None when pages are real."""
        if not self.faults.options.endless_pages:
            return None
        self._endless_served += 1
        return self._endless_served

    def _fingerprint(self, request: web.Request) -> str:
        return request.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))

    def _request_id(self, prefix: str, length: int) -> str:
        self._served += 1
        return prefix + self._ids.token(length, "request-id", self._served)

    def _page_body(self, payload: dict[str, object]) -> bytes:
        body = dumps(payload)
        if not self.faults.page_is_malformed():
            return body
        if self.faults.options.malformed_kind == "json":
            return body[: max(1, len(body) // 2)]
        return dumps(
            {"object": "page", "data": {"buckets": payload.get("data")}, "has_more": "maybe"}
        )

    def _openai_handler(self, build: PageBuilder) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            headers = {"x-request-id": self._request_id("req_", 32)}
            decision = self.faults.decide(self._fingerprint(request))
            if decision.delay_ms:
                await asyncio.sleep(decision.delay_ms / 1000)
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                return _openai_error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                    None,
                    headers,
                )
            key = auth[7:].strip()
            if key == self.openai_project_key:
                return _openai_error(
                    403,
                    "You have insufficient permissions for this operation. Missing scopes: api.usage.read. "
                    "Check that you have the correct role in your organization (Reader, Writer, Owner) and "
                    "project (Member, Owner), and if you're using a restricted API key, that it has the "
                    "necessary scopes.",
                    "invalid_request_error",
                    None,
                    headers,
                )
            if key not in self.openai.org.admin_keys or self.faults.key_revoked("openai"):
                return _openai_error(
                    401,
                    f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                    headers,
                )
            if decision.outcome == "rate_limited":
                headers["Retry-After"] = str(self.faults.options.retry_after_s)
                return _openai_error(
                    429,
                    "Rate limit reached for requests. Please try again later.",
                    "requests",
                    "rate_limit_exceeded",
                    headers,
                )
            if decision.outcome == "server_error":
                status = 503 if decision.variant % 2 else 500
                return _openai_error(
                    status,
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    None,
                    headers,
                )
            endless = self._endless()
            if endless is not None:
                page = dumps(openai_endless_page(self.now(), endless))
                return web.Response(body=page, content_type="application/json", headers=headers)
            try:
                payload = build(request, self.now())
            except BadRequest as error:
                return _openai_error(
                    400, error.message, "invalid_request_error", None, headers, error.param
                )
            return web.Response(
                body=self._page_body(payload), content_type="application/json", headers=headers
            )

        return handle

    def _anthropic_handler(self, build: PageBuilder) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            request_id = self._request_id("req_01", 22)
            decision = self.faults.decide(self._fingerprint(request))
            if decision.delay_ms:
                await asyncio.sleep(decision.delay_ms / 1000)
            key = request.headers.get("x-api-key", "")
            if not key:
                return _anthropic_error(
                    401, "authentication_error", "x-api-key header is required", request_id
                )
            if key == self.anthropic_api_key:
                return _anthropic_error(
                    403,
                    "permission_error",
                    "This endpoint requires an Admin API key (sk-ant-admin...); workspace API keys don't work.",
                    request_id,
                )
            if key not in self.anthropic.org.admin_keys or self.faults.key_revoked("anthropic"):
                return _anthropic_error(
                    401, "authentication_error", "invalid x-api-key", request_id
                )
            if not request.headers.get("anthropic-version"):
                return _anthropic_error(
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                    request_id,
                )
            if decision.outcome == "rate_limited":
                return _anthropic_error(
                    429,
                    "rate_limit_error",
                    "Number of requests has exceeded your rate limit.",
                    request_id,
                    {"retry-after": str(self.faults.options.retry_after_s)},
                )
            if decision.outcome == "server_error":
                if decision.variant % 2:
                    return _anthropic_error(529, "overloaded_error", "Overloaded", request_id)
                return _anthropic_error(500, "api_error", "Internal server error", request_id)
            endless = self._endless()
            if endless is not None:
                return web.Response(
                    body=dumps(anthropic_endless_page(endless)),
                    content_type="application/json",
                    headers={"request-id": request_id},
                )
            try:
                payload = build(request, self.now())
            except BadRequest as error:
                return _anthropic_error(400, "invalid_request_error", error.message, request_id)
            return web.Response(
                body=self._page_body(payload),
                content_type="application/json",
                headers={"request-id": request_id},
            )

        return handle

    # -- control API ----------------------------------------------------------------

    async def _truth(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            provider = query.get("provider", "")
            self._world(provider)
            start = _instant(query, "start")
            end = _instant(query, "end")
            by = query.get("by", "total")
            if by not in BY:
                raise ValueError(f"by must be one of {', '.join(BY)}")
            totals = compute_truth(self._world(provider), start, end, self.now(), by)
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(
            {
                "provider": provider,
                "start": start,
                "end": end,
                "by": by,
                "now": self.now(),
                "revision": self.revision,
                "totals": {key: value.as_json() for key, value in totals.items()},
            }
        )

    async def _revise(self, request: web.Request) -> web.Response:
        return web.json_response({"revision": self.revise()})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.options.as_dict())

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            changes: Any = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of fault settings")
            self.faults.update(changes)
        except (ValueError, json.JSONDecodeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(self.faults.options.as_dict())

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _info(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "seed": self.options.seed,
                "now": self.now(),
                "revision": self.revision,
                "openai": {
                    "base_url": base + "/v1",
                    "admin_keys": list(self.openai.org.admin_keys),
                    "project_key": self.openai_project_key,
                    "organization_id": self.openai.org.organization_id,
                    "project_ids": self.openai.org.project_ids,
                    "user_ids": self.openai.org.user_ids,
                    "api_key_ids": self.openai.org.api_key_ids,
                },
                "anthropic": {
                    "base_url": base,
                    "admin_keys": list(self.anthropic.org.admin_keys),
                    "api_key": self.anthropic_api_key,
                    "workspace_ids": self.anthropic.org.workspace_ids,
                    "api_key_ids": self.anthropic.org.api_key_ids,
                },
            }
        )


def _beta(request: web.Request) -> list[str]:
    return [
        part.strip()
        for header in request.headers.getall("anthropic-beta", [])
        for part in header.split(",")
    ]


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


def _mask(key: str) -> str:
    """OpenAI shows the first and last characters of a wrong key only."""
    if len(key) <= 10:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def _openai_error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    headers: dict[str, str],
    param: str | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.Response(
        status=status, body=dumps(body), content_type="application/json", headers=headers
    )


def _anthropic_error(
    status: int,
    kind: str,
    message: str,
    request_id: str,
    extra_headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    headers = {"request-id": request_id, **(extra_headers or {})}
    return web.Response(
        status=status, body=dumps(body), content_type="application/json", headers=headers
    )


@asynccontextmanager
async def run_simulator(
    options: SimulatorOptions | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Simulator]:
    """Start a simulator for the duration of the block::

    async with run_simulator(SimulatorOptions(seed=7, now=NOW)) as sim:
        url = sim.openai_base_url
    """
    simulator = Simulator(options)
    await simulator.start(host, port)
    try:
        yield simulator
    finally:
        await simulator.stop()
