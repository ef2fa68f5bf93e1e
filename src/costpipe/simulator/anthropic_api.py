"""Pages of Anthropic's ``usage_report/messages`` and ``cost_report`` (Admin API).

Pages are pure functions of (query, world, now); :class:`AnthropicVendor` tells
the shared middleware how the Admin API authenticates and words its errors.
Behaviour:

* array parameters only in bracket form (``group_by[]=model``, repeated); any
  unknown parameter, including an un-bracketed ``group_by``, is a 400, so a
  client that would be silently ungrouped by a lenient server fails loudly;
* ``starting_at`` snaps down to the bucket edge; only buckets that *end*
  strictly before ``ending_at`` are served ("Time buckets that end before this
  RFC 3339 timestamp will be returned", the reference's words), or at or before
  it with ``SimulatorOptions.anthropic_ending_at = "inclusive"``; limits 7/31
  (1d), 24/168 (1h), 60/1440 (1m);
* cost report: ``1d`` only, ``limit`` <= 31, ``group_by[]`` only
  ``workspace_id``/``description``; ``amount`` is a decimal string in cents
  with up to 5 decimals, ``currency`` ``"USD"``;
* the default workspace is ``workspace_id: null``; Workbench usage has
  ``api_key_id: null``; dimensions not grouped by are null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from aiohttp import web
from multidict import MultiMapping

from costpipe.simulator.activity import Burst
from costpipe.simulator.billing import anthropic_charges
from costpipe.simulator.buckets import (
    WIDTHS,
    Page,
    bin_bursts,
    decode_anthropic_cursor,
    encode_anthropic_cursor,
    floor,
    iso,
    plan,
    sort_key,
)
from costpipe.simulator.hostile_pages import anthropic_endless_page
from costpipe.simulator.vendor import AuthScheme, Failure, Vendor
from costpipe.simulator.wire import BadRequest, decimal_text, dumps
from costpipe.simulator.world import AnthropicWorld

__all__ = ["FAST_MODE_BETA", "AnthropicVendor", "beta_flags", "cost_page", "usage_page"]

FAST_MODE_BETA = "fast-mode-2026-02-01"
LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "account_id",
    "service_account_id",
)
#: filter parameter -> stream attribute (note the singular ``context_window[]``).
USAGE_FILTERS = {
    "api_key_ids[]": "api_key_id",
    "workspace_ids[]": "workspace_id",
    "models[]": "model",
    "service_tiers[]": "service_tier",
    "context_window[]": "context_window",
    "inference_geos[]": "inference_geo",
}
COST_GROUPS = ("workspace_id", "description")
_COMMON = {"starting_at", "ending_at", "bucket_width", "limit", "page", "group_by[]"}
_USAGE_PARAMS = _COMMON | set(USAGE_FILTERS) | {"speeds[]", "account_ids[]"}

Row = dict[str, object]


def _check_params(query: MultiMapping[str], known: Iterable[str]) -> None:
    known = set(known)
    for name in query:
        if name not in known:
            raise BadRequest(f"{name}: Extra inputs are not permitted")


def _moment(query: MultiMapping[str], name: str, *, required: bool = False) -> float | None:
    raw = query.get(name)
    if raw is None:
        if required:
            raise BadRequest(f"{name}: Field required")
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name}: Input should be a valid datetime, got {raw!r}") from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name}: Input should have timezone info")
    return moment.timestamp()


def _last_bucket_end(ending_at: float, strict: bool) -> int:
    """The latest bucket end (whole seconds) that *ending_at* lets through:
    ends ``< ending_at`` when strict, ``<= ending_at`` otherwise."""
    return math.ceil(ending_at) - 1 if strict else math.floor(ending_at)


def _plan(
    query: MultiMapping[str],
    now: int,
    widths: Iterable[str],
    maximum: int | None = None,
    *,
    strict: bool = True,
) -> Page:
    start_at = _moment(query, "starting_at", required=True)
    assert start_at is not None
    start = int(start_at)
    end_at = _moment(query, "ending_at")
    if end_at is not None and end_at <= start_at:
        raise BadRequest("ending_at: must be after starting_at")
    end = None if end_at is None else _last_bucket_end(end_at, strict)
    width_name = query.get("bucket_width", "1d")
    if width_name not in widths:
        raise BadRequest(f"bucket_width: Input should be {' or '.join(repr(w) for w in widths)}")
    width = WIDTHS[width_name]
    default, top = LIMITS[width_name]
    top = min(top, maximum) if maximum else top
    limit = default
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise BadRequest("limit: Input should be a valid integer") from None
        if not 1 <= limit <= top:
            raise BadRequest(
                f"limit: Input should be between 1 and {top} for bucket_width {width_name}"
            )
    first = floor(start, width)
    cursor = query.get("page")
    if cursor is not None:
        decoded = decode_anthropic_cursor(cursor)
        if decoded is None or decoded % width or decoded < first:
            raise BadRequest("page: Invalid page token")
        first = decoded
    return plan(first, width, limit, now=now, stop=end, whole_buckets=True)


def _group_by(query: MultiMapping[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    chosen = query.getall("group_by[]", [])
    for value in chosen:
        if value not in allowed:
            raise BadRequest(f"group_by[]: Input should be {', '.join(repr(a) for a in allowed)}")
    return tuple(dim for dim in allowed if dim in chosen)


def _page_bursts(world: AnthropicWorld, page: Page, now: int) -> list[list[Burst]]:
    if not page.buckets:
        return []
    return bin_bursts(page, world.bursts(page.buckets[0].lo, page.buckets[-1].hi, now))


def _envelope(page: Page, results: list[list[Row]]) -> dict[str, object]:
    return {
        "data": [
            {"starting_at": iso(b.start), "ending_at": iso(b.end), "results": rows}
            for b, rows in zip(page.buckets, results, strict=True)
        ],
        "has_more": page.next_start is not None,
        "next_page": None if page.next_start is None else encode_anthropic_cursor(page.next_start),
    }


def usage_page(
    query: MultiMapping[str], world: AnthropicWorld, now: int, beta: Iterable[str] = ()
) -> dict[str, object]:
    """One page of ``/v1/organizations/usage_report/messages``."""
    _check_params(query, _USAGE_PARAMS)
    page = _plan(query, now, ("1m", "1h", "1d"), strict=world.ending_at_strict)
    dims = _group_by(query, USAGE_GROUPS)
    if ("speed" in dims or "speeds[]" in query) and FAST_MODE_BETA not in beta:
        raise BadRequest(f"speed requires the anthropic-beta header {FAST_MODE_BETA}")
    filters = {
        attr: set(query.getall(param)) for param, attr in USAGE_FILTERS.items() if param in query
    }
    speeds = set(query.getall("speeds[]", []))
    results: list[list[Row]] = []
    for bursts in _page_bursts(world, page, now):
        sums: dict[tuple[object, ...], list[int]] = {}
        for burst in bursts:
            stream = world.streams[burst.stream]
            if any(getattr(stream, attr) not in wanted for attr, wanted in filters.items()):
                continue
            # Every simulated request runs at standard speed, by no end user.
            if speeds and "standard" not in speeds:
                continue
            values = {"speed": "standard", "account_id": None, "service_account_id": None}
            key = tuple(
                (values[dim] if dim in values else getattr(stream, dim)) if dim in dims else None
                for dim in USAGE_GROUPS
            )
            acc = sums.setdefault(key, [0, 0, 0, 0, 0, 0])
            acc[0] += burst.uncached
            acc[1] += burst.cached
            acc[2] += burst.write_5m
            acc[3] += burst.write_1h
            acc[4] += burst.output
            acc[5] += burst.web_search
        results.append(
            [
                _usage_row(key, acc)
                for key, acc in sorted(sums.items(), key=lambda kv: sort_key(kv[0]))
            ]
        )
    return _envelope(page, results)


def _usage_row(key: tuple[object, ...], acc: list[int]) -> Row:
    uncached, cached, write_5m, write_1h, output, searches = acc
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {
            "ephemeral_1h_input_tokens": write_1h,
            "ephemeral_5m_input_tokens": write_5m,
        },
        "cache_read_input_tokens": cached,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": searches},
        **dict(zip(USAGE_GROUPS, key, strict=True)),
    }


_COST_FIELDS = (
    "description",
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
)


def cost_page(query: MultiMapping[str], world: AnthropicWorld, now: int) -> dict[str, object]:
    """One page of ``/v1/organizations/cost_report``."""
    _check_params(query, _COMMON)
    page = _plan(query, now, ("1d",), maximum=31, strict=world.ending_at_strict)
    dims = _group_by(query, COST_GROUPS)
    by_description = "description" in dims
    results: list[list[Row]] = []
    for bursts in _page_bursts(world, page, now):
        sums: dict[tuple[object, ...], Decimal] = {}
        for burst in bursts:
            stream = world.streams[burst.stream]
            workspace = stream.workspace_id if "workspace_id" in dims else None
            for charge in anthropic_charges(stream, burst):
                detail = (
                    tuple(getattr(charge, f) for f in _COST_FIELDS)
                    if by_description
                    else (None,) * 7
                )
                key = (workspace, *detail)
                sums[key] = sums.get(key, Decimal(0)) + charge.cents
        rows: list[Row] = []
        for key, cents in sorted(sums.items(), key=lambda kv: sort_key(kv[0])):
            rows.append(
                {
                    "currency": "USD",
                    "amount": decimal_text(cents),
                    "workspace_id": key[0],
                    **dict(zip(_COST_FIELDS, key[1:], strict=True)),
                }
            )
        results.append(rows)
    return _envelope(page, results)


def beta_flags(request: web.Request) -> list[str]:
    """Every ``anthropic-beta`` flag sent (comma-separated, possibly repeated)."""
    return [
        part.strip()
        for header in request.headers.getall("anthropic-beta", [])
        for part in header.split(",")
    ]


class AnthropicVendor(Vendor):
    """``x-api-key`` plus a required ``anthropic-version``; errors
    ``{"type": "error", "error": {type, message}, "request_id"}``; every answer
    has a ``request-id`` header."""

    name = "anthropic"
    request_id_format = ("req_01", 22)

    def __init__(self, world: AnthropicWorld) -> None:
        self._auth = AuthScheme(
            read_key=lambda request: request.headers.get("x-api-key", ""),
            admin_keys=world.org.admin_keys,
            lesser_key=world.org.api_key,
            missing=Failure(401, "authentication_error", "x-api-key header is required"),
            lesser=Failure(
                403,
                "permission_error",
                "This endpoint requires an Admin API key (sk-ant-admin...); workspace API keys "
                "don't work.",
            ),
            unknown=lambda key: Failure(401, "authentication_error", "invalid x-api-key"),
            required_headers=(
                (
                    "anthropic-version",
                    Failure(400, "invalid_request_error", "anthropic-version: header is required"),
                ),
            ),
        )

    @property
    def auth(self) -> AuthScheme:
        return self._auth

    def render(self, failure: Failure, request_id: str | None) -> web.Response:
        body = {
            "type": "error",
            "error": {"type": failure.kind, "message": failure.message},
            "request_id": request_id,
        }
        return web.Response(
            status=failure.status,
            body=dumps(body),
            content_type="application/json",
            headers={**self._headers(request_id), **failure.headers},
        )

    def page(self, body: bytes, request_id: str | None) -> web.Response:
        return web.Response(
            body=body, content_type="application/json", headers=self._headers(request_id)
        )

    def bad_request(self, error: BadRequest) -> Failure:
        return Failure(400, "invalid_request_error", error.message)

    def rate_limited(self, retry_after_s: int) -> Failure:
        return Failure(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit.",
            headers={"retry-after": str(retry_after_s)},
        )

    def server_error(self, variant: int) -> Failure:
        if variant % 2:
            return Failure(529, "overloaded_error", "Overloaded")
        return Failure(500, "api_error", "Internal server error")

    def endless_page(self, request: web.Request, number: int, now: int) -> dict[str, object]:
        return anthropic_endless_page(number)

    @staticmethod
    def _headers(request_id: str | None) -> dict[str, str]:
        return {"request-id": request_id} if request_id else {}
