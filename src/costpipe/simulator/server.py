"""The simulator: one aiohttp app serving four vendors' APIs, plus its control API.

Routes (``P`` is the port)::

    OpenAI      base_url http://127.0.0.1:P/v1
      GET  /v1/organization/costs
      GET  /v1/organization/usage/completions
      GET  /v1/organization/usage/embeddings
      GET  /v1/organization/usage/{moderations,images,audio_speeches,
           audio_transcriptions,vector_stores,code_interpreter_sessions,
           file_search_calls,web_search_calls}
    Anthropic   base_url http://127.0.0.1:P
      GET  /v1/organizations/usage_report/messages
      GET  /v1/organizations/cost_report
    OpenRouter  base_url http://127.0.0.1:P/api/v1
      GET  /api/v1/activity, /api/v1/credits
    LiteLLM     base_url http://127.0.0.1:P
      GET  /spend/logs/v2
    Ollama      upstream http://127.0.0.1:P (the inference API: see ollama_api)
      POST /api/chat, /api/generate, /api/embed, /v1/chat/completions, ...
    Azure       management_url http://127.0.0.1:P (see azure_openai_api)
      POST /subscriptions/{sub}/providers/Microsoft.CostManagement/query
      GET  /azure/msi/token (managed identity)
    GCP         api_root http://127.0.0.1:P/bigquery/v2 (see gcp_billing_api)
      POST /bigquery/v2/projects/{project}/queries, GET .../queries/{jobId}
      POST /gcp/token (service-account JWT bearer)
    Control     /_sim/... (see :mod:`costpipe.simulator.control_api`)

Every vendor route goes through the same middleware, parameterised by the
vendor (:mod:`costpipe.simulator.vendor`): request counting, then
:class:`~costpipe.simulator.fault_middleware.FaultMiddleware` (decision,
latency, redirect; the body on the way out), authentication, injected 429/5xx
and endless pages, and finally the route (parameter validation, the page).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from costpipe.simulator import (
    anthropic_api,
    azure_monitor_api,
    azure_openai_api,
    bedrock_api,
    gcp_billing_api,
    litellm_api,
    ollama_api,
    openai_api,
    openai_units_api,
    openrouter_api,
)
from costpipe.simulator.auth import authentication
from costpipe.simulator.azure_openai_world import AzureWorld
from costpipe.simulator.bedrock_world import BedrockWorld
from costpipe.simulator.control_api import add_control_routes
from costpipe.simulator.fault_middleware import FaultMiddleware
from costpipe.simulator.faults import FaultState
from costpipe.simulator.gcp_billing_world import GcpWorld
from costpipe.simulator.options import SimulatorOptions
from costpipe.simulator.truth import Totals, compute_truth
from costpipe.simulator.vendor import RequestIds, Vendor, provider_request, register_routes
from costpipe.simulator.wire import BadRequest, dumps
from costpipe.simulator.world import AnthropicWorld, OpenAIWorld

__all__ = ["Simulator", "run_simulator"]

PageBuilder = Callable[[web.Request, int], dict[str, object]]


class Simulator:
    """A wire-faithful fake of the OpenAI, Anthropic, OpenRouter and LiteLLM
    billing/usage APIs.

    Usable in-process (:meth:`truth`, :meth:`revise`, :meth:`set_faults`) and
    over HTTP once :meth:`start`-ed. Not thread-safe for writes: call
    :meth:`revise` and :meth:`set_faults` from the event loop that serves.
    """

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.options = options or SimulatorOptions()
        self.options.validate()
        self.openai = OpenAIWorld(self.options)
        self.anthropic = AnthropicWorld(self.options)
        self.spikes = self.openai.spikes
        self.anthropic.spikes = self.spikes  # one set of spikes for both vendors
        hostile = self.options.hostile_names
        self.openrouter = openrouter_api.OpenRouterWorld(self.options.seed, hostile)
        self.litellm = litellm_api.LiteLLMWorld(self.options.seed, hostile)
        self.azure = AzureWorld(self.options.seed, hostile)
        self.ollama = ollama_api.FakeOllama()
        self.bedrock = BedrockWorld(self.options.seed)
        self.gcp = GcpWorld(self.options.seed)
        self.faults = FaultState(self.options.seed, self.options.faults)
        self._request_ids = RequestIds(self.options.seed)
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

    @property
    def bedrock_endpoint_url(self) -> str:
        """The fake AWS endpoint (:mod:`costpipe.simulator.bedrock_api`) for both clients."""
        return self.base_url + "/aws"

    @property
    def ollama_base_url(self) -> str:
        """The fake Ollama (:mod:`costpipe.simulator.ollama_api`): an upstream for the proxy."""
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
        return self.truth_at(provider, int(start.timestamp()), int(end.timestamp()), by)

    def truth_at(self, provider: str, start: int, end: int, by: str) -> dict[str, Totals]:
        """:meth:`truth` with unix-second bounds."""
        return compute_truth(self._world(provider), start, end, self.now(), by)

    def check_truth_provider(self, provider: str) -> None:
        """Raise :class:`ValueError` unless :meth:`truth` knows *provider*."""
        self._world(provider)

    def revise(self) -> int:
        """Make late data arrive now: recent buckets of both providers change."""
        at = self.now()
        self.openai.activity.revise(at)
        self.bedrock.revise(at)
        self.gcp.revise()
        self.azure.revise()
        return self.anthropic.activity.revise(at)

    @property
    def revision(self) -> int:
        return self.openai.activity.revision

    def set_faults(self, **changes: object) -> None:
        """Change faults at runtime (names as :class:`FaultOptions` fields)."""
        self.faults.update(changes)

    def stats(self) -> dict[str, object]:
        return self.faults.stats()

    def info(self, base_url: str) -> dict[str, object]:
        """Base URLs, keys and entity IDs, as ``GET /_sim/info`` serves them."""
        return {
            "seed": self.options.seed,
            "now": self.now(),
            "revision": self.revision,
            "openai": {
                "base_url": base_url + "/v1",
                "admin_keys": list(self.openai.org.admin_keys),
                "project_key": self.openai_project_key,
                "organization_id": self.openai.org.organization_id,
                "project_ids": self.openai.org.project_ids,
                "user_ids": self.openai.org.user_ids,
                "api_key_ids": self.openai.org.api_key_ids,
            },
            "anthropic": {
                "base_url": base_url,
                "admin_keys": list(self.anthropic.org.admin_keys),
                "api_key": self.anthropic_api_key,
                "workspace_ids": self.anthropic.org.workspace_ids,
                "api_key_ids": self.anthropic.org.api_key_ids,
            },
            "openrouter": {
                "base_url": base_url + "/api/v1",
                "management_key": self.openrouter.management_key,
                "inference_key": self.openrouter.inference_key,
            },
            "litellm": {
                "base_url": base_url,
                "master_key": self.litellm.master_key,
                "user_key": self.litellm.user_key,
            },
            "bedrock": {
                "endpoint_url": base_url + "/aws",
                "access_key_id": self.bedrock.key("FULL").access_key_id,
                "secret_access_key": self.bedrock.key("FULL").secret_access_key,
            },
            "azure_openai": azure_openai_api.connection(self.azure, base_url),
            "gcp_billing": gcp_billing_api.connection(self.gcp, base_url),
        }

    def _world(self, provider: str) -> OpenAIWorld | AnthropicWorld:
        if provider == "openai":
            return self.openai
        if provider == "anthropic":
            return self.anthropic
        raise ValueError("provider must be 'openai' or 'anthropic'")

    # -- serving ------------------------------------------------------------------

    def _unit_page(self, endpoint: str) -> PageBuilder:
        return lambda r, now: openai_units_api.unit_page(r.query, self.openai.units, endpoint, now)

    def app(self) -> web.Application:
        faults = FaultMiddleware(self.faults, self.now)
        app = web.Application(
            middlewares=[
                self._count,
                faults.outer,
                authentication(self.faults.key_revoked),
                faults.inner,
            ]
        )
        openai = openai_api.OpenAIVendor(self.openai)
        anthropic = anthropic_api.AnthropicVendor(self.anthropic)
        pages: list[tuple[Vendor, str, PageBuilder]] = [
            (
                openai,
                "/v1/organization/costs",
                lambda r, now: openai_api.costs_page(r.query, self.openai, now),
            ),
            (
                openai,
                "/v1/organization/usage/completions",
                lambda r, now: openai_api.usage_page(r.query, self.openai, "completions", now),
            ),
            (
                openai,
                "/v1/organization/usage/embeddings",
                lambda r, now: openai_api.usage_page(r.query, self.openai, "embeddings", now),
            ),
            *(
                (openai, f"/v1/organization/usage/{name}", self._unit_page(name))
                for name in openai_units_api.GROUPS
            ),
            (
                anthropic,
                "/v1/organizations/usage_report/messages",
                lambda r, now: anthropic_api.usage_page(
                    r.query, self.anthropic, now, anthropic_api.beta_flags(r)
                ),
            ),
            (
                anthropic,
                "/v1/organizations/cost_report",
                lambda r, now: anthropic_api.cost_page(r.query, self.anthropic, now),
            ),
        ]
        for vendor, path, build in pages:
            app.router.add_get(path, self._page_handler(build))
            register_routes(app, vendor, [path], self._request_ids)
        register_routes(
            app,
            openrouter_api.OpenRouterVendor(self.openrouter),
            openrouter_api.add_routes(app, self.openrouter, self.now_datetime),
            self._request_ids,
        )
        register_routes(
            app,
            litellm_api.LiteLLMVendor(self.litellm),
            litellm_api.add_routes(app, self.litellm, self.now_datetime),
            self._request_ids,
        )
        ollama_api.add_routes(app, self.ollama)
        azure_openai_api.add_routes(app, self.azure, self.now_datetime)
        azure_monitor_api.add_metrics_routes(app, self.azure, self.now_datetime)
        bedrock_api.add_routes(app, self.bedrock, self.now)
        gcp_billing_api.add_routes(app, self.gcp, self.now_datetime)
        add_control_routes(app, self)
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
        bound_port = port
        for address in runner.addresses:
            bound_port = address[1]
            break
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

    def _page_handler(self, build: PageBuilder) -> Handler:
        """A route serving *build*'s page; a refused parameter is a 400 in the
        vendor's error shape."""

        async def handle(request: web.Request) -> web.StreamResponse:
            context = provider_request(request)
            assert context is not None, "page routes are registered with their vendor"
            try:
                payload = build(request, self.now())
            except BadRequest as error:
                return context.render(context.vendor.bad_request(error))
            return context.vendor.page(dumps(payload), context.request_id)

        return handle


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
