"""The query layer over InfluxDB: :class:`~costpipe.query.api.CostReader` in InfluxQL.

Every aggregation runs in InfluxDB (``sum()``, ``GROUP BY time() ... tz()``).
Money is summed from the integer field ``cost_nanos``, so totals are exact.
Filter values pass through :func:`~costpipe.sinks.influxdb.encoder.stored_tag_value`
(the encoder's rules) and are quoted as InfluxQL string literals; dimension
names come from :func:`~costpipe.query.api.check_dimension` and are quoted as
identifiers, so no input can change a statement's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from costpipe.errors import CostpipeError, SinkUnavailableError
from costpipe.query.api import (
    OTHER,
    QUERYABLE_DIMENSIONS,
    Breakdown,
    CostQuery,
    Granularity,
    SeriesPoint,
    SpendRequest,
    check_dimension,
)
from costpipe.query.best import Account, best_slices, day_span
from costpipe.query.grouped import Batch, answer_batch, empty_answer, plan_batches
from costpipe.records import DIMENSIONS, TOKEN_FIELDS, UNIT_FIELDS
from costpipe.redaction import redact_url
from costpipe.sinks.influxdb.encoder import (
    MEASUREMENT,
    stored_tag_name,
    stored_tag_value,
    timestamp_ns,
)
from costpipe.sinks.influxdb.rows import stored_rows
from costpipe.sinks.influxdb.slices import merged, quote_string, slice_conditions
from costpipe.sinks.influxdb.stream import stream_records

__all__ = ["InfluxDBReader", "InfluxHTTP", "quote_ident", "quote_string"]

_BUILTIN_TAGS = frozenset(DIMENSIONS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN_NAMES = tuple(name for name in TOKEN_FIELDS if name.endswith("_tokens"))
_TOKEN_COUNT = len(_TOKEN_NAMES)
_COUNTER_SUMS = ", ".join(f'sum("{name}")' for name in (*_TOKEN_NAMES, *UNIT_FIELDS))


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(slots=True)
class InfluxHTTP:
    """The HTTP details shared by the sink and its reader."""

    session: aiohttp.ClientSession
    url: str
    database: str
    retention_policy: str | None

    def write_params(self) -> dict[str, str]:
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        return params

    @property
    def measurement(self) -> str:
        if self.retention_policy:
            return ".".join(
                quote_ident(p) for p in (self.database, self.retention_policy, MEASUREMENT)
            )
        return quote_ident(MEASUREMENT)

    async def query(self, statement: str, method: str = "GET") -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return its series (``[]`` when none).

        Raises :class:`SinkUnavailableError` when the server cannot be reached
        and :class:`CostpipeError` when it rejects the statement.
        """
        (series,) = await self.query_many([statement], method)
        return series

    async def query_many(
        self, statements: Sequence[str], method: str = "GET"
    ) -> list[list[dict[str, Any]]]:
        """Run several InfluxQL statements in one request (``;``-separated, as
        InfluxDB's ``/query`` accepts them); return each one's series, in order.

        One round trip instead of one per statement; influxd runs them one after
        another. Raises as :meth:`query` does, for the first statement refused.
        """
        if not statements:
            return []
        text = ";".join(statements)
        params = {"db": self.database, "epoch": "ns", "q": text}
        try:
            async with self.session.request(method, f"{self.url}/query", params=params) as response:
                if response.status >= 500:
                    raise SinkUnavailableError(f"InfluxDB query answered {response.status}")
                payload: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # self.url never holds user info (the writer moves it to a header);
            # redact_url also masks InfluxDB's u=/p= query parameters.
            raise SinkUnavailableError(
                f"InfluxDB at {redact_url(self.url)}: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(payload, dict):
            raise CostpipeError(f"InfluxDB answered {payload!r}")
        if "error" in payload:
            raise CostpipeError(f"InfluxDB refused {text!r}: {payload['error']}")
        results: list[dict[str, Any]] = payload.get("results") or []
        by_id = {int(r.get("statement_id", i)): r for i, r in enumerate(results)}
        answers: list[list[dict[str, Any]]] = []
        for index, statement in enumerate(statements):
            result = by_id.get(index, {})
            if "error" in result:
                if str(result["error"]).startswith("database not found"):
                    answers.append([])
                    continue
                raise CostpipeError(f"InfluxDB refused {statement!r}: {result['error']}")
            answers.append(result.get("series", []))
        return answers


def _dollars(nanos: Any) -> Decimal:
    return Decimal(int(nanos or 0)).scaleb(-9)


class InfluxDBReader:
    """:class:`~costpipe.query.api.CostReader` over the sink's database."""

    def __init__(self, http: Callable[[], InfluxHTTP]) -> None:
        # A getter, not the object: the reader may be created before start().
        self._http = http
        self._tags: list[str] = []

    # -- statement building ----------------------------------------------------

    async def _dimension(self, name: str) -> str:
        """The quoted tag key for a checked dimension name."""
        if name not in QUERYABLE_DIMENSIONS and name not in self._tags:
            self._tags = await self.tag_names()
        checked = check_dimension(name, self._tags)
        return quote_ident(checked if checked in _BUILTIN_TAGS else stored_tag_name(checked))

    async def _where(self, query: CostQuery, *, basis: bool = True) -> str | None:
        """The WHERE clause of a stored basis (or of none), or None when a filter
        admits no value at all."""
        filters = await self._filters(query)
        if filters is None:
            return None
        parts = [f"time >= {timestamp_ns(query.start)}", f"time < {timestamp_ns(query.end)}"]
        if basis:
            parts.append(f'"cost_source" = {quote_string(query.basis.value)}')
        return " AND ".join([*parts, *filters])

    async def _wheres(self, query: CostQuery) -> list[str] | None:
        """One WHERE clause per slice of the query's basis: one for a stored basis,
        those of :func:`~costpipe.query.best.best_slices` for ``best``."""
        if query.basis.stored:
            where = await self._where(query)
            return None if where is None else [where]
        filters = await self._filters(query)
        if filters is None:
            return None
        billed = await self._billed_days(query)
        return [
            " AND ".join([*slice_conditions(piece), *filters])
            for piece in best_slices(query.start, query.end, billed)
        ]

    async def _billed_days(self, query: CostQuery) -> dict[Account, set[date]]:
        """Per provider account, the UTC days of the query's range whose bill is
        in (an allocated row exists), whatever the query's filters."""
        lower, upper = day_span(query.start, query.end)
        series = await self._select(
            'count("cost_nanos")',
            f"time >= {timestamp_ns(lower)} AND time < {timestamp_ns(upper)} "
            "AND \"cost_source\" = 'allocated'",
            ' GROUP BY time(1d), "provider", "account" fill(none)',
        )
        days: dict[Account, set[date]] = {}
        for item in series:
            account = (_tag(item, "provider"), _tag(item, "account"))
            for stamp, count in item["values"]:
                if count:
                    days.setdefault(account, set()).add(_instant(stamp).date())
        return days

    async def _filters(self, query: CostQuery) -> list[str] | None:
        """The filters' conditions, or None when a filter admits no value at all."""
        parts: list[str] = []
        for name, values in sorted(query.filters.items()):
            if not values:
                return None
            key = await self._dimension(name)
            alternatives = " OR ".join(
                f"{key} = {quote_string(stored_tag_value(v))}" for v in sorted(set(values))
            )
            parts.append(f"({alternatives})")
        return parts

    async def _select(self, fields: str, where: str, group_by: str = "") -> list[dict[str, Any]]:
        http = self._http()
        statement = f"SELECT {fields} FROM {http.measurement} WHERE {where}{group_by}"
        return await http.query(statement)

    async def _select_all(
        self, fields: str, wheres: list[str], group_by: str = "", *, by_time: bool = False
    ) -> list[dict[str, Any]]:
        """The series of one statement per WHERE clause, sent in one request and
        added per group (and per period when *by_time*)."""
        if len(wheres) == 1:
            return await self._select(fields, wheres[0], group_by)
        http = self._http()
        results = await http.query_many(
            [f"SELECT {fields} FROM {http.measurement} WHERE {w}{group_by}" for w in wheres]
        )
        return merged(results, by_time=by_time)

    # -- CostReader --------------------------------------------------------------

    async def total(self, query: CostQuery) -> Decimal:
        wheres = await self._wheres(query)
        if wheres is None:
            return Decimal(0)
        series = await self._select_all('sum("cost_nanos")', wheres)
        if not series:
            return Decimal(0)
        return _dollars(series[0]["values"][0][1])

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> list[Breakdown]:
        key = await self._dimension(by)
        wheres = await self._wheres(query)
        if wheres is None:
            return []
        series = await self._select_all('sum("cost_nanos")', wheres, f" GROUP BY {key}")
        tag = key.strip('"')
        groups = sorted(
            ((int(s["values"][0][1] or 0), _tag(s, tag)) for s in series),
            key=lambda item: (-item[0], item[1]),
        )
        if top is not None and len(groups) > top:
            # Only the already-aggregated tail is added here, as exact integers.
            rest = sum(nanos for nanos, _ in groups[top:])
            groups = [*groups[:top], (rest, OTHER)]
        return [Breakdown(group, _dollars(nanos)) for nanos, group in groups]

    async def series(
        self,
        query: CostQuery,
        granularity: Granularity,
        timezone: str = "UTC",
        by: str | None = None,
    ) -> list[SeriesPoint]:
        zone = ZoneInfo(timezone)
        key = await self._dimension(by) if by is not None else None
        wheres = await self._wheres(query)
        if wheres is None:
            return []
        step = "1h" if granularity is Granularity.HOUR else "1d"
        group = f" GROUP BY time({step})" + (f", {key}" if key else "")
        group += f" fill(none) tz({quote_string(timezone)})"
        series = await self._select_all('sum("cost_nanos")', wheres, group, by_time=True)
        tag = key.strip('"') if key else None
        points: list[SeriesPoint] = []
        for item in series:
            label = _tag(item, tag) if tag else ""
            for stamp, nanos in item["values"]:
                if nanos is None:
                    continue
                start = _instant(stamp).astimezone(zone)
                points.append(SeriesPoint(start, label, _dollars(nanos)))
        points.sort(key=lambda p: (p.start, p.group))
        return points

    async def unpriced_usage(self, query: CostQuery) -> dict[str, int]:
        """Unpriced rows are always on the estimated basis: ``query.basis`` is ignored."""
        where = await self._where(query, basis=False)
        if where is None:
            return {}
        # One column per counter: a field older points lack sums to null on its
        # own instead of making a whole sum expression null.
        series = await self._select(
            _COUNTER_SUMS, f'{where} AND "unpriced" = true', ' GROUP BY "model"'
        )
        usage: dict[str, tuple[int, int]] = {}
        for item in series:
            values = [int(v or 0) for v in item["values"][0][1:]]
            usage[_tag(item, "model")] = (sum(values[:_TOKEN_COUNT]), sum(values[_TOKEN_COUNT:]))
        # A model whose unpriced usage is units only (images, calls...) is listed
        # too, with its tokens: its cost is unknown, not 0.
        return {
            model: tokens for model, (tokens, units) in sorted(usage.items()) if tokens or units
        }

    async def spend(self, requests: Sequence[SpendRequest]) -> list[dict[str, Decimal]]:
        """:class:`~costpipe.query.api.GroupedReader`: one statement per range and
        basis, grouped by every dimension the requests use, all sent in one request."""
        batches, empty = plan_batches(requests)
        answers = {i: empty_answer(requests[i], Decimal(0)) for i in empty}
        statements = [await self._grouped_statements(batch) for batch in batches]
        results = await self._http().query_many([text for texts, _ in statements for text in texts])
        for batch, (texts, tags) in zip(batches, statements, strict=True):
            mine, results = results[: len(texts)], results[len(texts) :]
            series = mine[0] if len(mine) == 1 else merged(mine, by_time=False)
            rows = [
                (tuple(_tag(s, tag) for tag in tags), int(s["values"][0][1] or 0)) for s in series
            ]
            answers.update(answer_batch(batch, requests, rows, stored_value=stored_tag_value))
        return [answers[i] for i in range(len(requests))]

    async def spend_statements(self, requests: Sequence[SpendRequest]) -> list[str]:
        """The InfluxQL :meth:`spend` sends for *requests* (benchmarks, diagnostics)."""
        batches, _ = plan_batches(requests)
        return [text for batch in batches for text in (await self._grouped_statements(batch))[0]]

    async def _grouped_statements(self, batch: Batch) -> tuple[list[str], list[str]]:
        """The statements of one batch (one per slice of its basis) and the tag
        keys of its groups, in dims order."""
        keys = [await self._dimension(dim) for dim in batch.dims]
        wheres = await self._wheres(batch.query)
        assert wheres is not None  # a batch's query has no filters
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        measurement = self._http().measurement
        texts = [f'SELECT sum("cost_nanos") FROM {measurement} WHERE {w}{group}' for w in wheres]
        return texts, [key.strip('"') for key in keys]

    stream_records = stream_records  # what `costpipe export` reads (module docstring)
    stored_rows = stored_rows  # what allocation reads (costpipe.allocation.runner)

    async def tag_names(self) -> list[str]:
        http = self._http()
        series = await http.query(f"SHOW TAG KEYS FROM {http.measurement}")
        names = {row[0] for s in series for row in s.get("values", [])}
        return sorted(names - _BUILTIN_TAGS)


def _instant(stamp: Any) -> datetime:
    """An aware UTC datetime from InfluxDB's ``epoch=ns`` timestamp."""
    return _EPOCH + timedelta(microseconds=int(stamp) // 1000)


def _tag(series: Mapping[str, Any], name: str) -> str:
    tags: Mapping[str, str] = series.get("tags") or {}
    return str(tags.get(name, ""))
