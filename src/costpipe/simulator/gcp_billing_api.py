"""A fake of the BigQuery REST API (jobs.query, jobs.getQueryResults) over the
Cloud Billing export of :class:`~.gcp_billing_world.GcpWorld`; Google's token
endpoints (service-account JWT, STS, metadata server) are :mod:`.gcp_auth_api`.

Routes (``P`` is the port)::

    POST /gcp/token                                         (token_uri of test keys)
    POST /gcp/sts                                           (Google STS, token exchange)
    GET  /computeMetadata/v1/instance/service-accounts/default/token   (metadata server)
    POST /bigquery/v2/projects/{project}/queries            jobs.query
    GET  /bigquery/v2/projects/{project}/queries/{jobId}    jobs.getQueryResults

Behaviour, as the BigQuery v2 discovery document and error reference describe:

* the token endpoint takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
  and an RS256 ``assertion`` signed by a key :meth:`GcpWorld.service_account_file`
  made, whose ``aud`` is this endpoint; anything else is 400 ``invalid_grant``;
* an unknown bearer token is 401 ``UNAUTHENTICATED``; an identity without
  bigquery.jobs.create is 403 ``accessDenied`` naming that permission; one
  without access to the table 403 ``accessDenied`` naming the table; another
  project or table is 404 ``notFound``; a request that is not named-parameter
  standard SQL over the export is 400 ``invalidQuery``;
* every :attr:`GcpWorld.throttle_every`-th request is throttled, alternately
  429 ``RESOURCE_EXHAUSTED`` and 403 ``rateLimitExceeded`` (both are real);
* a new job answers ``jobComplete: false`` with its ``jobReference``, and
  getQueryResults does :attr:`GcpWorld.incomplete_polls` - 1 more times;
* rows are the query's result computed from the export lines (the fake does not
  parse SQL: it reads the parameters), every scalar a string in ``v``, labels a
  REPEATED RECORD ``[{"v": {"f": [{"v": k}, {"v": v}]}}]``, TIMESTAMPs as float
  seconds in Java's double form (``"1.7645472E9"``) or, with
  ``formatOptions.useInt64Timestamp``, integer microseconds; pages of
  ``min(maxResults, page_rows)`` rows linked by an opaque ``pageToken``.
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from costpipe.simulator.gcp_auth_api import (
    METADATA_TOKEN,
    STS_PATH,
    TOKEN_PATH,
    add_auth_routes,
)
from costpipe.simulator.gcp_billing_world import ExportLine, GcpWorld
from costpipe.simulator.wire import dumps

__all__ = [
    "API_ROOT",
    "METADATA_TOKEN",
    "STS_PATH",
    "TOKEN_PATH",
    "add_routes",
    "connection",
    "result_rows",
    "seconds_text",
]

API_ROOT = "/bigquery/v2"
QUERIES = API_ROOT + "/projects/{project}/queries"
RESULTS = QUERIES + "/{job}"
_MAX_JOBS = 500
_LABELS: dict[str, Any] = {
    "name": "labels",
    "type": "RECORD",
    "mode": "REPEATED",
    "fields": [{"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}],
}
SCHEMA = [
    {"name": "hour", "type": "TIMESTAMP", "mode": "NULLABLE"},
    *(
        {"name": n, "type": "STRING", "mode": "NULLABLE"}
        for n in ("service", "project", "sku_id", "sku", "currency", "kind")
    ),
    _LABELS,
    {"name": "amount", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "usage_amount", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "usage_unit", "type": "STRING", "mode": "NULLABLE"},
]


@dataclass
class Job:
    project: str
    rows: list[dict[str, Any]]
    polls_left: int


def connection(world: GcpWorld, base_url: str) -> dict[str, str]:
    """What ``[[providers.gcp_billing]]`` needs against this fake, without a
    ``credentials_file``: gcloud-aio-auth asks the metadata server it finds through
    ``GCE_METADATA_HOST`` (as on GKE with Workload Identity) for a reader's token."""
    return {
        "api_root": base_url + API_ROOT,
        "table": world.table,
        "metadata_host": base_url.removeprefix("http://"),
        "service_account": world.metadata_identity,
    }


def error(status: int, reason: str, message: str, code_status: str) -> web.Response:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": code_status,
        }
    }
    return web.Response(status=status, body=dumps(body), content_type="application/json")


def seconds_text(moment: datetime, index: int) -> str:
    """Float seconds as BigQuery writes them (Java's ``Double.toString``), with
    the plain ``"1764547200.0"`` form on every third row (both are seen)."""
    seconds = int(moment.timestamp())
    if index % 3 == 2:
        return f"{seconds}.0"
    digits = str(seconds).rstrip("0") or "0"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{mantissa}E{len(str(seconds)) - 1}"


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def result_rows(
    lines: list[ExportLine], label_keys: set[str], services: set[str]
) -> list[tuple[Any, ...]]:
    """The query's GROUP BY over *lines*: one tuple per (hour, service, project,
    SKU, currency, kind, picked labels), (..., amount, usage amount, unit)."""
    sums: dict[tuple[Any, ...], list[Decimal | None]] = {}
    for line in lines:
        if line.sku.service not in services:
            continue
        picked = tuple(sorted(kv for kv in line.labels if kv[0] in label_keys))
        base = (line.hour, line.sku.service, line.project, line.sku.id, line.sku.description, "USD")
        cost = sums.setdefault((*base, "COST", picked), [Decimal(0), Decimal(0)])
        cost[0] = (cost[0] or Decimal(0)) + line.cost
        cost[1] = (cost[1] or Decimal(0)) + line.usage
        for kind, amount in line.credits:
            credit = sums.setdefault((*base, kind, picked), [Decimal(0), None])
            credit[0] = (credit[0] or Decimal(0)) + amount
    units = {line.sku.id: line.sku.unit for line in lines}
    out = [(*key, amount, usage, units[key[3]]) for key, (amount, usage) in sums.items()]
    out.sort(key=lambda r: (r[0], r[2], r[3], r[6], r[7]))
    return out


def _cells(row: tuple[Any, ...], index: int, micros: bool) -> list[dict[str, Any]]:
    hour, service, project, sku_id, sku, currency, kind, labels, amount, usage, unit = row
    stamp = str(int(hour.timestamp()) * 1_000_000) if micros else seconds_text(hour, index)
    label_cells = [{"v": {"f": [{"v": k}, {"v": v}]}} for k, v in labels]
    values = [stamp, service, project, sku_id, sku, currency, kind]
    return [
        *({"v": v} for v in values),
        {"v": label_cells},
        {"v": _num(amount)},
        {"v": _num(usage)},
        {"v": unit},
    ]


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("useLegacySql") is not False or body.get("parameterMode") != "NAMED":
        raise ValueError("useLegacySql must be false and parameterMode NAMED")
    params: dict[str, Any] = {}
    for p in body.get("queryParameters", []):
        kind = p["parameterType"]["type"]
        if kind == "TIMESTAMP":
            params[p["name"]] = datetime.fromisoformat(p["parameterValue"]["value"])
        elif kind == "ARRAY" and p["parameterType"]["arrayType"]["type"] == "STRING":
            params[p["name"]] = {v["value"] for v in p["parameterValue"].get("arrayValues", [])}
        else:
            raise ValueError(f"parameter {p.get('name')!r} has an unexpected type")
    for name in ("start", "end", "services", "label_keys"):
        if name not in params:
            raise ValueError(f"Query parameter '{name}' not found")
    if params["start"].utcoffset() is None or params["end"] <= params["start"]:
        raise ValueError("start and end must be UTC timestamps, start < end")
    return params


def add_routes(app: web.Application, world: GcpWorld, now: Callable[[], datetime]) -> list[str]:
    """Register the fake's routes; return their paths."""
    jobs: OrderedDict[str, Job] = OrderedDict()

    def gate(request: web.Request) -> tuple[str, web.Response | None]:
        world.requests += 1
        header = request.headers.get("Authorization", "")
        email = world.email_of(header.removeprefix("Bearer "))
        if email is None:
            return "", error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                "UNAUTHENTICATED",
            )
        project = request.match_info["project"]
        if project != world.project:
            return email, error(404, "notFound", f"Not found: Project {project}", "NOT_FOUND")
        if world.throttle_every and world.requests % world.throttle_every == 0:
            world.throttled += 1
            if world.throttled % 2:
                return email, error(
                    429,
                    "rateLimitExceeded",
                    "Quota exceeded: too many requests.",
                    "RESOURCE_EXHAUSTED",
                )
            return email, error(
                403,
                "rateLimitExceeded",
                "Exceeded rate limits: too many api requests per user per method for this user_method.",
                "PERMISSION_DENIED",
            )
        return email, None

    async def query(request: web.Request) -> web.Response:
        email, refused = gate(request)
        if refused is not None:
            return refused
        project = world.project
        if "jobs" not in world.grants[email]:
            return error(
                403,
                "accessDenied",
                f"Access Denied: Project {project}: User does not have bigquery.jobs.create permission in project {project}.",
                "PERMISSION_DENIED",
            )
        try:
            body = json.loads(await request.read())
            params = _parameters(body)
            sql = str(body["query"])
            max_results = int(body.get("maxResults", 10**6))
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, "invalidQuery", str(exc)[:200], "INVALID_ARGUMENT")
        if f"`{world.table}`" not in sql:
            name = sql.split("FROM `", 1)[-1].split("`", 1)[0][:200]
            return error(
                404,
                "notFound",
                f"Not found: Table {name} was not found in location US",
                "NOT_FOUND",
            )
        if "data" not in world.grants[email]:
            return error(
                403,
                "accessDenied",
                f"Access Denied: Table {world.table}: User does not have permission to query table {world.table}, or perhaps it does not exist.",
                "PERMISSION_DENIED",
            )
        lines = world.lines(params["start"], params["end"], now())
        rows = result_rows(lines, params["label_keys"], params["services"])
        micros = bool(body.get("formatOptions", {}).get("useInt64Timestamp"))
        cells = [{"f": _cells(row, i, micros)} for i, row in enumerate(rows)]
        job_id = "job_" + base64.urlsafe_b64encode(
            f"{time.monotonic_ns()}:{len(jobs)}".encode()
        ).decode().rstrip("=")
        jobs[job_id] = Job(project, cells, world.incomplete_polls - 1)
        jobs.move_to_end(job_id)
        while len(jobs) > _MAX_JOBS:
            jobs.popitem(last=False)
        reference = {"projectId": project, "jobId": job_id, "location": "US"}
        if world.incomplete_polls > 0:
            world.polls += 1
            return _json(
                {"kind": "bigquery#queryResponse", "jobReference": reference, "jobComplete": False}
            )
        return _json(
            _page(
                jobs[job_id], reference, 0, max_results, world.page_rows, "bigquery#queryResponse"
            )
        )

    async def results(request: web.Request) -> web.Response:
        _email, refused = gate(request)
        if refused is not None:
            return refused
        job = jobs.get(request.match_info["job"])
        if job is None:
            return error(
                404, "notFound", f"Not found: Job {request.match_info['job'][:100]}", "NOT_FOUND"
            )
        reference = {"projectId": job.project, "jobId": request.match_info["job"], "location": "US"}
        if request.query.get("location", "US") != "US":
            return error(404, "notFound", "Not found: Job in that location", "NOT_FOUND")
        if job.polls_left > 0:
            job.polls_left -= 1
            world.polls += 1
            return _json(
                {
                    "kind": "bigquery#getQueryResultsResponse",
                    "jobReference": reference,
                    "jobComplete": False,
                }
            )
        try:
            token = request.query.get("pageToken")
            offset = int(base64.urlsafe_b64decode(token + "==").decode()) if token else 0
            max_results = int(request.query.get("maxResults", 10**6))
        except ValueError:
            return error(400, "invalid", "Invalid page token.", "INVALID_ARGUMENT")
        return _json(
            _page(
                job,
                reference,
                offset,
                max_results,
                world.page_rows,
                "bigquery#getQueryResultsResponse",
            )
        )

    app.router.add_post(QUERIES, query)
    app.router.add_get(RESULTS, results)
    return [*add_auth_routes(app, world), QUERIES, RESULTS]


def _page(
    job: Job, reference: dict[str, str], offset: int, max_results: int, page_rows: int, kind: str
) -> dict[str, Any]:
    size = max(1, min(max_results, page_rows))
    rows = job.rows[offset : offset + size]
    page: dict[str, Any] = {
        "kind": kind,
        "etag": '"' + str(len(job.rows)) + '"',
        "schema": {"fields": SCHEMA},
        "jobReference": reference,
        "totalRows": str(len(job.rows)),
        "rows": rows,
        "totalBytesProcessed": "10485760",
        "jobComplete": True,
        "cacheHit": False,
    }
    if offset + size < len(job.rows):
        page["pageToken"] = (
            base64.urlsafe_b64encode(str(offset + size).encode()).decode().rstrip("=")
        )
    if not rows:
        del page["rows"]  # the API leaves ``rows`` out of an empty result
    return page


def _json(payload: dict[str, Any]) -> web.Response:
    return web.Response(body=dumps(payload), content_type="application/json")
