"""A fake of Azure's Cost Management Query API and the managed-identity token endpoint.

Routes (``P`` is the port; ``management_url`` is ``http://127.0.0.1:P``)::

    GET  /azure/msi/token        App Service managed identity (IDENTITY_ENDPOINT)
    POST /subscriptions/{sub}/providers/Microsoft.CostManagement/query
    GET  {resourceId}/providers/Microsoft.Insights/metrics  (azure_monitor_api, registered beside)

Behaviour, as the spec (Azure/azure-rest-api-specs, ``costmanagement.json``,
``Query_Usage``) and the throttling docs describe it:

* the token endpoint wants ``X-IDENTITY-HEADER`` and ``api-version=2019-08-01``
  and returns ``access_token`` / ``expires_on``; ``client_id`` =
  :attr:`AzureWorld.no_role_client_id` gets a token with no role;
* the query wants ``Authorization: Bearer``: an unknown token is 401
  ``InvalidAuthenticationToken``, the no-role token 403 ``AuthorizationFailed``
  for ``Microsoft.CostManagement/query/action``; another subscription is 404;
* the body must be ``ActualCost``, ``timeframe`` ``Custom`` with a
  ``timePeriod``, ``granularity`` ``Daily``, grouped by ``ResourceId`` and
  ``MeterName``; the ``ServiceName`` ``In`` filter is applied; anything else
  is 400 ``BadRequest``;
* rows come :attr:`AzureWorld.page_rows` a page; ``properties.nextLink`` is the
  same URL with ``$skiptoken``, to be POSTed with the same body;
* every :attr:`AzureWorld.throttle_every`-th request is answered 429 with
  ``x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`` (and the entity
  one), as Cost Management throttles;
* the shape follows ``api-version``: ``2019-*`` wraps the result in
  ``{"value": [...]}`` with ``PreTaxCost`` and ``UsageDate`` a Number;
  ``2021-*`` gives ``Cost``/``CostUSD`` and ``UsageDate`` a String
  ``"20261101"``; ``2023-*`` a Number ``20261101``; ``2024-*`` and later a
  ``Datetime`` string ``"2026-11-01T00:00:00"``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from aiohttp import web

from costpipe.simulator.azure_openai_world import AzureWorld, CostRow
from costpipe.simulator.wire import dumps

__all__ = [
    "MSI_PATH",
    "NowFn",
    "add_entra_routes",
    "add_routes",
    "connection",
    "error_response",
    "query_result",
]

MSI_PATH = "/azure/msi/token"
TOKEN_ROUTE = "/{tenant}/oauth2/v2.0/token"
QUERY_ROUTE = "/subscriptions/{subscription}/providers/Microsoft.CostManagement/query"
NowFn = Callable[[], datetime]


def connection(world: AzureWorld, base_url: str) -> dict[str, str]:
    """What ``[[providers.azure_openai]]`` needs against this fake, signing in as a
    managed identity (the default ``auth``): azure-identity finds the token endpoint
    through the ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` environment variables."""
    return {
        "management_url": base_url,
        "scope": world.scope,
        "identity_endpoint": base_url + MSI_PATH,
        "identity_header": world.identity_header,
    }


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = dumps({"error": {"code": code, "message": message}})
    return web.Response(
        status=status, body=body, content_type="application/json", headers=headers or {}
    )


def add_entra_routes(app: web.Application, world: AzureWorld) -> list[str]:
    """Entra ID's token endpoint for the client-credentials flow
    (``POST /{tenant}/oauth2/v2.0/token``, form encoded) with a client secret or
    a federated (workload identity) client assertion. azure-identity only
    talks to an ``https`` authority, so tests serve this on a TLS site of their own."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if request.match_info["tenant"] != world.tenant_id:
            return _oauth_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("grant_type") != "client_credentials" or not form.get("scope"):
            return _oauth_error(400, "invalid_request", "grant_type and scope are required")
        federated = (
            form.get("client_assertion_type")
            == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            and form.get("client_assertion") == world.federated_token
        )
        if form.get("client_id") != world.app_client_id or not (
            federated or form.get("client_secret") == world.app_client_secret
        ):
            return _oauth_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        payload = {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": world.reader_token,
        }
        return web.Response(body=dumps(payload), content_type="application/json")

    app.router.add_post(TOKEN_ROUTE, token)
    return [TOKEN_ROUTE]


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    body = dumps({"error": code, "error_description": description, "error_codes": [7000215]})
    return web.Response(status=status, body=body, content_type="application/json")


def add_routes(app: web.Application, world: AzureWorld, now: NowFn) -> list[str]:
    """Register the fake's routes; return their paths."""

    async def msi_token(request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != world.identity_header:
            return error_response(401, "Unauthorized", "missing or wrong X-IDENTITY-HEADER")
        if request.query.get("api-version") != "2019-08-01" or not request.query.get("resource"):
            return error_response(
                400, "BadRequest", "api-version=2019-08-01 and resource are required"
            )
        no_role = request.query.get("client_id") == world.no_role_client_id
        token = world.no_role_token if no_role else world.reader_token
        expires = int(time.time()) + 3600  # real time: azure-identity compares with it
        payload = {
            "access_token": token,
            "expires_on": str(expires),
            "resource": request.query["resource"],
            "token_type": "Bearer",
        }
        return web.Response(body=dumps(payload), content_type="application/json")

    async def query(request: web.Request) -> web.Response:
        world.query_requests += 1
        auth = request.headers.get("Authorization", "")
        if auth == f"Bearer {world.no_role_token}":
            return error_response(
                403,
                "AuthorizationFailed",
                f"The client does not have authorization to perform action "
                f"'Microsoft.CostManagement/query/action' over scope '{world.scope}' or the "
                "scope is invalid.",
            )
        if auth != f"Bearer {world.reader_token}":
            return error_response(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if request.match_info["subscription"] != world.subscription_id:
            return error_response(
                404, "SubscriptionNotFound", "The subscription could not be found."
            )
        version = request.query.get("api-version", "")
        if not version[:4].isdigit():
            return error_response(400, "BadRequest", "api-version is required")
        if world.throttle_every and world.query_requests % world.throttle_every == 0:
            world.throttled += 1
            seconds = str(world.throttle_seconds)
            return error_response(
                429,
                "429",
                "Too many requests. Please retry.",
                {
                    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": seconds,
                    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "1",
                },
            )
        try:
            body = json.loads(await request.read(), parse_float=Decimal)
            first, last, services = _validated(body)
            skip = int(request.query.get("$skiptoken", "0"))
            if skip < 0:
                raise ValueError("bad $skiptoken")
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(400, "BadRequest", f"Invalid query definition: {exc}")
        rows = world.rows(first, last, services, now().date())
        page = rows[skip : skip + world.page_rows]
        next_link = None
        if skip + world.page_rows < len(rows):
            link = request.url.update_query({"$skiptoken": str(skip + world.page_rows)})
            if world.next_link_host is not None:
                link = link.with_host(world.next_link_host)
            next_link = str(link)
        result = query_result(page, version, next_link, world.scope)
        return web.Response(body=dumps(result), content_type="application/json")

    app.router.add_get(MSI_PATH, msi_token)
    app.router.add_post(QUERY_ROUTE, query)
    return [MSI_PATH, QUERY_ROUTE]


def _validated(body: object) -> tuple[date, date, set[str]]:
    if not isinstance(body, dict):
        raise ValueError("body is not an object")
    if body.get("type") != "ActualCost" or body.get("timeframe") != "Custom":
        raise ValueError("type must be ActualCost and timeframe Custom")
    period = body["timePeriod"]
    first = datetime.fromisoformat(period["from"].replace("Z", "+00:00")).date()
    last = datetime.fromisoformat(period["to"].replace("Z", "+00:00")).date()
    dataset = body["dataset"]
    if dataset.get("granularity") != "Daily":
        raise ValueError("granularity must be Daily")
    grouping = [g.get("name") for g in dataset.get("grouping", [])]
    if grouping != ["ResourceId", "MeterName"]:
        raise ValueError(f"grouping {grouping} is not ResourceId, MeterName")
    dims = dataset["filter"]["dimensions"]
    if dims.get("name") != "ServiceName" or dims.get("operator") != "In":
        raise ValueError("filter must be ServiceName In [...]")
    if (last - first).days > 366:
        raise ValueError("time period longer than one year")
    return first, last, {str(v) for v in dims["values"]}


def query_result(
    rows: list[CostRow], version: str, next_link: str | None, scope: str
) -> dict[str, object]:
    """One ``QueryResult`` page in the shape of *version* (module docstring)."""
    year = int(version[:4])
    if year <= 2019:
        columns = [("PreTaxCost", "Number"), ("UsageDate", "Number")]
    elif year <= 2021:
        columns = [("Cost", "Number"), ("CostUSD", "Number"), ("UsageDate", "String")]
    elif year <= 2023:
        columns = [("Cost", "Number"), ("CostUSD", "Number"), ("UsageDate", "Number")]
    else:
        columns = [("Cost", "Number"), ("CostUSD", "Number"), ("UsageDate", "Datetime")]
    columns += [("ResourceId", "String"), ("MeterName", "String"), ("Currency", "String")]
    out_rows: list[list[object]] = []
    for row in rows:
        stamp: object
        if year <= 2019 or 2022 <= year <= 2023:
            stamp = int(row.day.strftime("%Y%m%d"))
        elif year <= 2021:
            stamp = row.day.strftime("%Y%m%d")
        else:
            stamp = row.day.isoformat() + "T00:00:00"
        money: list[object] = [row.cost] if year <= 2019 else [row.cost, row.cost]
        out_rows.append([*money, stamp, row.resource_id, row.meter.name, "USD"])
    result: dict[str, object] = {
        "id": f"{scope}/providers/Microsoft.CostManagement/query/00000000-0000-0000-0000-000000000000",
        "name": "00000000-0000-0000-0000-000000000000",
        "type": "Microsoft.CostManagement/query",
        "properties": {
            "nextLink": next_link,
            "columns": [{"name": n, "type": t} for n, t in columns],
            "rows": out_rows,
        },
    }
    return {"value": [result]} if year <= 2019 else result
