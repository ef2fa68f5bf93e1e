"""A fake of Azure Monitor's ``Metrics_List`` for the Azure OpenAI resources of the fake subscription.

``GET {resourceId}/providers/Microsoft.Insights/metrics`` (Azure/azure-rest-api-specs,
``specification/monitor/resource-manager/Microsoft.Insights/stable/2023-10-01/
metrics_API.json``): ``metricnames``, ``timespan`` (``start/end``), ``interval``
``PT1H``, ``aggregation`` ``Total``; the answer is a ``Response`` with one
``Metric`` per name (``name.value``, ``unit``), one ``TimeSeriesElement`` per
deployment (``metadatavalues`` ``modeldeploymentname`` / ``modelname``) and
``data`` points ``{"timeStamp", "total"}`` with totals written like Azure does
(``1234.0``). Only completed hours are served. The reader identity may read
the metrics of :data:`~.azure_openai_world.MONITORED` resources only: the other
answers 403 ``AuthorizationFailed`` for ``Microsoft.Insights/metrics/read``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from costpipe.simulator.azure_openai_api import NowFn, error_response
from costpipe.simulator.azure_openai_world import DEPLOYMENTS, MONITORED, AzureWorld
from costpipe.simulator.wire import dumps

__all__ = ["METRICS_ROUTE", "add_metrics_routes"]

METRICS_ROUTE = (
    "/subscriptions/{subscription}/resourceGroups/{group}/providers/"
    "Microsoft.CognitiveServices/accounts/{account}/providers/Microsoft.Insights/metrics"
)
_INDEX = {"ProcessedPromptTokens": 0, "GeneratedTokens": 1, "AzureOpenAIRequests": 2}


def add_metrics_routes(app: web.Application, world: AzureWorld, now: NowFn) -> list[str]:
    async def metrics(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        account = request.match_info["account"]
        if auth == f"Bearer {world.no_role_token}" or (
            auth == f"Bearer {world.reader_token}" and account not in MONITORED
        ):
            return error_response(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action "
                "'Microsoft.Insights/metrics/read' over scope "
                f"'{request.path.split('/providers/Microsoft.Insights')[0]}'.",
            )
        if auth != f"Bearer {world.reader_token}":
            return error_response(401, "InvalidAuthenticationToken", "The token is invalid.")
        resource = world.resource(request.match_info["group"], account)
        if request.match_info["subscription"] != world.subscription_id or resource is None:
            return error_response(404, "ResourceNotFound", "The resource was not found.")
        query = request.query
        try:
            first, last = (
                datetime.fromisoformat(part.replace("Z", "+00:00")).astimezone(UTC)
                for part in query["timespan"].split("/")
            )
            names = query["metricnames"].split(",")
            if query.get("interval") != "PT1H" or query.get("aggregation") != "Total":
                raise ValueError("interval PT1H and aggregation Total expected")
            if any(name not in _INDEX for name in names) or last - first > timedelta(days=31):
                raise ValueError("unknown metric or timespan too long")
        except (KeyError, ValueError) as exc:
            return error_response(400, "BadRequest", f"Invalid query: {exc}")
        end = min(last, now().replace(minute=0, second=0, microsecond=0))
        value = []
        for name in names:
            series = []
            for deployment, model in DEPLOYMENTS[account]:
                points = []
                hour = first
                while hour < end:
                    counts = world.hourly(hour, account, deployment)
                    total = 0 if counts is None else counts[_INDEX[name]]
                    stamp = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
                    points.append({"timeStamp": stamp, "total": float(total)})
                    hour += timedelta(hours=1)
                series.append(
                    {
                        "metadatavalues": [
                            {"name": {"value": "modeldeploymentname"}, "value": deployment},
                            {"name": {"value": "modelname"}, "value": model},
                        ],
                        "data": points,
                    }
                )
            value.append(
                {
                    "id": f"{request.path}/{name}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": name, "localizedValue": name},
                    "unit": "Count",
                    "timeseries": series,
                }
            )
        body = {
            "cost": 0,
            "timespan": query["timespan"],
            "interval": "PT1H",
            "namespace": "Microsoft.CognitiveServices/accounts",
            "resourceregion": "swedencentral",
            "value": value,
        }
        return web.Response(body=dumps(body), content_type="application/json")

    app.router.add_get(METRICS_ROUTE, metrics)
    return [METRICS_ROUTE]
