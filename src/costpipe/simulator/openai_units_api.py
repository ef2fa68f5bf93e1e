"""Pages of OpenAI's usage endpoints beyond completions and embeddings, from
:mod:`costpipe.simulator.openai_units`, in the wire format of the OpenAPI spec
(openai/openai-openapi ``openapi.yaml``: ``/organization/usage/<endpoint>`` and
the ``Usage*Result`` schemas).

Behaviour shared with completions (:func:`costpipe.simulator.openai_api.usage_page`):
``bucket_width`` ``1m``/``1h``/``1d`` with ``limit`` defaults and maxima 60/1440,
24/168, 7/31; the first bucket starts at the exact ``start_time``; ``next_page``
cursors; empty buckets as ``results: []``; dimensions not in ``group_by`` are
null. Per endpoint, as the spec has it: the ``group_by`` values (a value the spec
does not list is a 400, e.g. ``model`` for vector stores), the filters
(``sizes``, ``sources``, ``context_levels``, ``vector_store_ids``...), the result
``object`` names (file and web search say ``file_searches`` / ``web_searches``,
not the path's ``*_calls``) and fields.
"""

from __future__ import annotations

from collections.abc import Iterable

from multidict import MultiMapping

from costpipe.simulator.buckets import WIDTHS, Page, plan, sort_key
from costpipe.simulator.openai_api import (
    USAGE_LIMITS,
    Row,
    _envelope,
    _first,
    _group_by,
    _limit,
    _window,
    multi,
)
from costpipe.simulator.openai_units import AMOUNTS, DAY, OpenAIUnits, UnitEvent
from costpipe.simulator.wire import BadRequest

__all__ = ["GROUPS", "OBJECTS", "unit_page"]

_BY_MODEL = ("project_id", "user_id", "api_key_id", "model")
#: ``group_by`` values each endpoint accepts (the spec's enum), in output order.
GROUPS: dict[str, tuple[str, ...]] = {
    "moderations": _BY_MODEL,
    "images": (*_BY_MODEL, "size", "source"),
    "audio_speeches": _BY_MODEL,
    "audio_transcriptions": _BY_MODEL,
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
    "file_search_calls": ("project_id", "user_id", "api_key_id", "vector_store_id"),
    "web_search_calls": (*_BY_MODEL, "context_level"),
}
#: The result ``object`` of each endpoint.
OBJECTS: dict[str, str] = {
    "moderations": "organization.usage.moderations.result",
    "images": "organization.usage.images.result",
    "audio_speeches": "organization.usage.audio_speeches.result",
    "audio_transcriptions": "organization.usage.audio_transcriptions.result",
    "vector_stores": "organization.usage.vector_stores.result",
    "code_interpreter_sessions": "organization.usage.code_interpreter_sessions.result",
    "file_search_calls": "organization.usage.file_searches.result",
    "web_search_calls": "organization.usage.web_searches.result",
}
#: Filter parameter -> stream attribute, per endpoint (the spec's array parameters).
_FILTERS: dict[str, dict[str, str]] = {
    name: {
        param: dim
        for param, dim in (
            ("project_ids", "project_id"),
            ("user_ids", "user_id"),
            ("api_key_ids", "api_key_id"),
            ("models", "model"),
            ("sizes", "size"),
            ("sources", "source"),
            ("context_levels", "context_level"),
            ("vector_store_ids", "vector_store_id"),
        )
        if dim in groups
    }
    for name, groups in GROUPS.items()
}


def unit_page(
    query: MultiMapping[str], units: OpenAIUnits, endpoint: str, now: int
) -> dict[str, object]:
    """One page of ``/v1/organization/usage/<endpoint>``."""
    start, end = _window(query)
    width_name = query.get("bucket_width", "1d")
    if width_name not in USAGE_LIMITS:
        raise BadRequest(
            f"Invalid value for 'bucket_width': '{width_name}'. Supported values are: 1m, 1h, 1d.",
            "bucket_width",
        )
    width = WIDTHS[width_name]
    limit = _limit(query, *USAGE_LIMITS[width_name])
    groups = GROUPS[endpoint]
    dims = _group_by(query, groups)
    wanted = {
        dim: set(values)
        for param, dim in _FILTERS[endpoint].items()
        if (values := multi(query, param))
    }
    first = _first(query, start, width, start)
    page = plan(first, width, limit, now=now, stop=end, clip_lo=start, clip_hi=end)
    if endpoint == "vector_stores":
        results = _vector_store_rows(page, units, dims, wanted)
    else:
        results = _event_rows(page, units, endpoint, dims, wanted, now)
    return _envelope(page, results, now)


def _keep(values: dict[str, str | None], wanted: dict[str, set[str]]) -> bool:
    return all(values.get(dim) in allowed for dim, allowed in wanted.items())


def _event_rows(
    page: Page,
    units: OpenAIUnits,
    endpoint: str,
    dims: tuple[str, ...],
    wanted: dict[str, set[str]],
    now: int,
) -> list[list[Row]]:
    groups = GROUPS[endpoint]
    results: list[list[Row]] = []
    for bucket in page.buckets:
        sums: dict[tuple[object, ...], list[int]] = {}
        for event in units.events(endpoint, bucket.lo, bucket.hi, now):
            values = _values(units, event, groups)
            if not _keep(values, wanted):
                continue
            key = tuple(values[dim] if dim in dims else None for dim in groups)
            acc = sums.setdefault(key, [0] * len(event.amounts))
            for i, amount in enumerate(event.amounts):
                acc[i] += amount
        results.append(
            [
                {
                    "object": OBJECTS[endpoint],
                    **dict(zip(AMOUNTS[endpoint], acc, strict=True)),
                    **dict(zip(groups, key, strict=True)),
                }
                for key, acc in sorted(sums.items(), key=lambda kv: sort_key(kv[0]))
            ]
        )
    return results


def _values(units: OpenAIUnits, event: UnitEvent, groups: Iterable[str]) -> dict[str, str | None]:
    stream = units.streams[event.stream]
    return {dim: getattr(stream, dim) for dim in groups}


def _vector_store_rows(
    page: Page, units: OpenAIUnits, dims: tuple[str, ...], wanted: dict[str, set[str]]
) -> list[list[Row]]:
    """Bytes held on the bucket's day (a gauge), per project or summed."""
    results: list[list[Row]] = []
    for bucket in page.buckets:
        day = bucket.start - bucket.start % DAY
        sums: dict[tuple[object, ...], int] = {}
        for number, project in enumerate(units.project_ids):
            if not _keep({"project_id": project}, wanted):
                continue
            stored = units.stored_bytes(number, day)
            if stored:
                key = (project if "project_id" in dims else None,)
                sums[key] = sums.get(key, 0) + stored
        results.append(
            [
                {"object": OBJECTS["vector_stores"], "usage_bytes": stored, "project_id": key[0]}
                for key, stored in sorted(sums.items(), key=lambda kv: sort_key(kv[0]))
            ]
        )
    return results
