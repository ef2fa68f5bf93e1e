"""Pages of OpenAI's ``/v1/organization/costs`` and ``/usage/{completions,embeddings}``
(the other usage endpoints: :mod:`costpipe.simulator.openai_units_api`).

Pages are pure functions of (query, world, now); :class:`OpenAIVendor` tells the
shared middleware how OpenAI authenticates and words its errors. Behaviour:

* array parameters are accepted as ``name`` and ``name[]`` (both repeated);
* Costs: ``bucket_width`` must be ``1d``, ``limit`` 1..180 (default 7), the
  first bucket snaps to UTC midnight;
* Usage: ``1m``/``1h``/``1d`` with limits 60/1440, 24/168, 7/31 (default/max);
  the first bucket starts at the exact ``start_time`` and ends at the next edge;
* usage is limited to ``[start_time, end_time)``; empty buckets are served with
  ``results: []``; dimensions not in ``group_by`` are null; cost results carry
  the undocumented ``organization_id`` like real ones;
* completions rows hold the audio and image streams of
  :mod:`costpipe.simulator.openai_units` too: their totals include audio and
  image tokens, ``input_text_tokens`` and the other splits tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from aiohttp import web
from multidict import MultiMapping

from costpipe.simulator.activity import Burst
from costpipe.simulator.billing import openai_charges
from costpipe.simulator.buckets import (
    WIDTHS,
    Page,
    bin_bursts,
    decode_openai_cursor,
    encode_openai_cursor,
    floor,
    plan,
    sort_key,
)
from costpipe.simulator.hostile_pages import openai_endless_page
from costpipe.simulator.organization import OpenAIStream
from costpipe.simulator.vendor import AuthScheme, Failure, Vendor, bearer_key
from costpipe.simulator.wire import BadRequest, dumps
from costpipe.simulator.world import OpenAIWorld

__all__ = ["OpenAIVendor", "costs_page", "usage_page"]

USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
USAGE_GROUPS = {
    "completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
}
COST_GROUPS = ("project_id", "line_item", "api_key_id")

Row = dict[str, object]


def multi(query: MultiMapping[str], name: str) -> list[str]:
    """Values of an array parameter sent as ``name=`` or ``name[]=`` (repeated)."""
    return [*query.getall(name, []), *query.getall(name + "[]", [])]


def _int(query: MultiMapping[str], name: str, *, required: bool = False) -> int | None:
    raw = query.get(name)
    if raw is None:
        if required:
            raise BadRequest(f"Missing required parameter: '{name}'.", name)
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid type for '{name}': expected an integer, but got '{raw}'.", name
        ) from None


def _limit(query: MultiMapping[str], default: int, maximum: int) -> int:
    limit = _int(query, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise BadRequest(f"Invalid 'limit': must be between 1 and {maximum}, got {limit}.", "limit")
    return limit


def _group_by(query: MultiMapping[str], allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = tuple(allowed)
    chosen = multi(query, "group_by")
    for value in chosen:
        if value not in allowed:
            raise BadRequest(
                f"Invalid value for 'group_by': '{value}'. Supported values are: {', '.join(allowed)}.",
                "group_by",
            )
    return tuple(dim for dim in allowed if dim in chosen)


def _window(query: MultiMapping[str]) -> tuple[int, int | None]:
    start = _int(query, "start_time", required=True)
    assert start is not None
    end = _int(query, "end_time")
    if end is not None and end <= start:
        raise BadRequest("'end_time' must be greater than 'start_time'.", "end_time")
    return start, end


def _first(query: MultiMapping[str], default: int, width: int, start: int) -> int:
    cursor = query.get("page")
    if cursor is None:
        return default
    first = decode_openai_cursor(cursor)
    if first is None or first % width or first < start:
        raise BadRequest(f"Invalid 'page': '{cursor}' is not a valid page token.", "page")
    return first


def _page_bursts(world: OpenAIWorld, page: Page, now: int) -> list[list[Burst]]:
    if not page.buckets:
        return []
    return bin_bursts(page, world.bursts(page.buckets[0].lo, page.buckets[-1].hi, now))


def _envelope(page: Page, results: list[list[Row]], now: int) -> dict[str, object]:
    return {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": b.start, "end_time": b.end, "results": rows}
            for b, rows in zip(page.buckets, results, strict=True)
        ],
        "has_more": page.next_start is not None,
        "next_page": None
        if page.next_start is None
        else encode_openai_cursor(now, page.next_start),
    }


def _stream_filter(query: MultiMapping[str], kind: str) -> Callable[[OpenAIStream], bool]:
    filters = {
        "project_id": set(multi(query, "project_ids")),
        "user_id": set(multi(query, "user_ids")),
        "api_key_id": set(multi(query, "api_key_ids")),
        "model": set(multi(query, "models")),
    }
    batch_raw = query.get("batch") if kind == "completions" else None
    if batch_raw not in (None, "true", "false"):
        raise BadRequest(f"Invalid value for 'batch': '{batch_raw}'.", "batch")

    def keep(stream: OpenAIStream) -> bool:
        if stream.kind != kind:
            return False
        for dim, wanted in filters.items():
            if wanted and getattr(stream, dim) not in wanted:
                return False
        return batch_raw is None or stream.batch == (batch_raw == "true")

    return keep


def usage_page(
    query: MultiMapping[str], world: OpenAIWorld, kind: str, now: int
) -> dict[str, object]:
    """One page of ``/v1/organization/usage/<kind>`` (``completions`` or ``embeddings``)."""
    start, end = _window(query)
    width_name = query.get("bucket_width", "1d")
    if width_name not in USAGE_LIMITS:
        raise BadRequest(
            f"Invalid value for 'bucket_width': '{width_name}'. Supported values are: 1m, 1h, 1d.",
            "bucket_width",
        )
    width = WIDTHS[width_name]
    limit = _limit(query, *USAGE_LIMITS[width_name])
    groups = USAGE_GROUPS[kind]
    dims = _group_by(query, groups)
    keep = _stream_filter(query, kind)
    first = _first(query, start, width, start)
    page = plan(first, width, limit, now=now, stop=end, clip_lo=start, clip_hi=end)
    results: list[list[Row]] = []
    # Group key per stream, None for streams filtered out; computed once per request.
    keys: list[tuple[object, ...] | None] = [
        tuple(getattr(stream, dim) if dim in dims else None for dim in USAGE_GROUPS[kind])
        if keep(stream)
        else None
        for stream in world.streams
    ]
    for bucket, bursts in zip(page.buckets, _page_bursts(world, page, now), strict=True):
        # Text parts, requests, then audio and image tokens (openai_units.AMOUNTS).
        sums: dict[tuple[object, ...], list[int]] = {}
        for burst in bursts:
            key = keys[burst.stream]
            if key is None:
                continue
            acc = sums.setdefault(key, [0] * 11)
            acc[0] += burst.uncached
            acc[1] += burst.cached
            acc[2] += burst.write_5m + burst.write_1h
            acc[3] += burst.output
            acc[4] += burst.requests
        if kind == "completions":  # the audio/image streams of openai_units
            for stream, amounts in world.units.completions(bucket.lo, bucket.hi, now):
                if keep(stream):
                    key = tuple(getattr(stream, d) if d in dims else None for d in groups)
                    acc = sums.setdefault(key, [0] * 11)
                    for i, amount in enumerate(amounts):
                        acc[i] += amount
        rows = [
            _usage_row(kind, key, acc)
            for key, acc in sorted(sums.items(), key=lambda kv: sort_key(kv[0]))
        ]
        results.append(rows)
    return _envelope(page, results, now)


def _usage_row(kind: str, key: tuple[object, ...], acc: list[int]) -> Row:
    uncached, cached, write, output, requests, a_in, a_cached, a_out, i_in, i_cached, i_out = acc
    dims = dict(zip(USAGE_GROUPS[kind], key, strict=True))
    if kind == "embeddings":
        return {
            "object": "organization.usage.embeddings.result",
            "input_tokens": uncached,
            "num_model_requests": requests,
            **dims,
        }
    # The totals include audio and image tokens; the *_text_* fields do not.
    all_uncached = uncached + a_in + i_in
    all_cached = cached + a_cached + i_cached
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": all_uncached + all_cached + write,
        "output_tokens": output + a_out + i_out,
        "num_model_requests": requests,
        "input_cached_tokens": all_cached,
        "input_cache_write_tokens": write,
        "input_uncached_tokens": all_uncached,
        "input_text_tokens": uncached,
        "output_text_tokens": output,
        "input_cached_text_tokens": cached,
        "input_audio_tokens": a_in,
        "input_cached_audio_tokens": a_cached,
        "output_audio_tokens": a_out,
        "input_image_tokens": i_in,
        "input_cached_image_tokens": i_cached,
        "output_image_tokens": i_out,
        **dims,
    }


def costs_page(query: MultiMapping[str], world: OpenAIWorld, now: int) -> dict[str, object]:
    """One page of ``/v1/organization/costs``."""
    start, end = _window(query)
    width_name = query.get("bucket_width", "1d")
    if width_name != "1d":
        raise BadRequest(
            f"Invalid value for 'bucket_width': '{width_name}'. Supported values are: 1d.",
            "bucket_width",
        )
    width = WIDTHS["1d"]
    limit = _limit(query, 7, 180)
    dims = _group_by(query, COST_GROUPS)
    projects = set(multi(query, "project_ids"))
    keys = set(multi(query, "api_key_ids"))
    first = _first(query, floor(start, width), width, floor(start, width))
    page = plan(first, width, limit, now=now, stop=end, clip_hi=end)
    results: list[list[Row]] = []
    for bursts in _page_bursts(world, page, now):
        sums: dict[tuple[object, ...], list[Decimal]] = {}
        for burst in bursts:
            stream = world.streams[burst.stream]
            if (projects and stream.project_id not in projects) or (
                keys and stream.api_key_id not in keys
            ):
                continue
            for charge in openai_charges(stream, burst):
                values = {
                    "project_id": stream.project_id,
                    "line_item": charge.line_item,
                    "api_key_id": stream.api_key_id,
                }
                key = tuple(values[dim] if dim in dims else None for dim in COST_GROUPS)
                acc = sums.setdefault(key, [Decimal(0), Decimal(0)])
                acc[0] += charge.amount
                acc[1] += charge.quantity
        rows = [
            _cost_row(world, key, acc, "line_item" in dims)
            for key, acc in sorted(sums.items(), key=lambda kv: sort_key(kv[0]))
        ]
        results.append(rows)
    return _envelope(page, results, now)


def _cost_row(
    world: OpenAIWorld, key: tuple[object, ...], acc: list[Decimal], by_line: bool
) -> Row:
    project_id, line_item, api_key_id = key
    return {
        "object": "organization.costs.result",
        "amount": {"value": acc[0], "currency": "usd"},
        "line_item": line_item,
        "project_id": project_id,
        "api_key_id": api_key_id,
        "quantity": int(acc[1]) if by_line else None,
        "quantity_unit": "tokens" if by_line else None,
        "organization_id": world.org.organization_id,
    }


def _mask(key: str) -> str:
    """OpenAI shows the first and last characters of a wrong key only."""
    if len(key) <= 10:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


class OpenAIVendor(Vendor):
    """``Authorization: Bearer sk-admin-…``; errors ``{"error": {message, type,
    param, code}}``; every answer has ``x-request-id``."""

    name = "openai"
    request_id_format = ("req_", 32)

    def __init__(self, world: OpenAIWorld) -> None:
        self._auth = AuthScheme(
            read_key=bearer_key,
            admin_keys=world.org.admin_keys,
            lesser_key=world.org.project_key,
            missing=Failure(
                401,
                "invalid_request_error",
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            ),
            lesser=Failure(
                403,
                "invalid_request_error",
                "You have insufficient permissions for this operation. Missing scopes: "
                "api.usage.read. Check that you have the correct role in your organization "
                "(Reader, Writer, Owner) and project (Member, Owner), and if you're using a "
                "restricted API key, that it has the necessary scopes.",
            ),
            unknown=lambda key: Failure(
                401,
                "invalid_request_error",
                f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_api_key",
            ),
        )

    @property
    def auth(self) -> AuthScheme:
        return self._auth

    def render(self, failure: Failure, request_id: str | None) -> web.Response:
        body = {
            "error": {
                "message": failure.message,
                "type": failure.kind,
                "param": failure.param,
                "code": failure.code,
            }
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

    def rate_limited(self, retry_after_s: int) -> Failure:
        return Failure(
            429,
            "requests",
            "Rate limit reached for requests. Please try again later.",
            "rate_limit_exceeded",
            headers={"Retry-After": str(retry_after_s)},
        )

    def server_error(self, variant: int) -> Failure:
        return Failure(
            503 if variant % 2 else 500,
            "server_error",
            "The server had an error while processing your request. Sorry about that!",
        )

    def endless_page(self, request: web.Request, number: int, now: int) -> dict[str, object]:
        return openai_endless_page(now, number)

    @staticmethod
    def _headers(request_id: str | None) -> dict[str, str]:
        return {"x-request-id": request_id} if request_id else {}
