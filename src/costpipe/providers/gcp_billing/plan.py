"""The BigQuery ``jobs.query`` request for a window (no IO).

One parameterised query per span of completed UTC hours: the Cloud Billing
export rows of the configured services whose ``usage_start_time`` lies in the
span, summed by hour, project, SKU, currency and the configured labels, with
the gross cost and each credit type as its own row (``kind``). Money is summed
as ``NUMERIC`` (the export's ``cost`` and ``credits.amount`` are FLOAT64; a
FLOAT64 sum would round), so the answer is exact decimal text.

Late data: export rows of an hour arrive for days after it and are revised by
new rows (``export_time``). Every pass re-reads its lookback whole, so every row
exported since (``export_time >= @start``: none is exported before its usage
starts) is summed again. That bound is on the column, not on the tables'
ingestion-time partitions (``_PARTITIONTIME``), so it does not limit the bytes
scanned: a ``_PARTITIONTIME`` filter is left out because a table without that
pseudo-column (a view, a copy) would reject the query.

Only the span, services and label keys are parameters; the table name cannot
be one in BigQuery SQL, so it is validated (:data:`.config.TABLE_PATTERN`) and
quoted with backticks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from costpipe.providers.planning import aligned_range
from costpipe.records import Window

__all__ = ["HOUR", "MAX_SPAN", "plan_spans", "query_request", "query_sql"]

HOUR = timedelta(hours=1)
MAX_SPAN = timedelta(days=7)

_SQL = """\
WITH picked AS (
  SELECT
    TIMESTAMP_TRUNC(usage_start_time, HOUR) AS hour,
    service.description AS service,
    IFNULL(project.id, '') AS project,
    sku.id AS sku_id,
    sku.description AS sku,
    currency,
    ARRAY(SELECT AS STRUCT l.key, l.value FROM UNNEST(labels) AS l
          WHERE l.key IN UNNEST(@label_keys) ORDER BY l.key, l.value) AS picked_labels,
    cost,
    usage.amount AS usage_amount,
    usage.unit AS usage_unit,
    credits
  FROM `{table}`
  WHERE export_time >= @start
    AND usage_start_time >= @start AND usage_start_time < @end
    AND service.description IN UNNEST(@services)
),
amounts AS (
  SELECT hour, service, project, sku_id, sku, currency, picked_labels,
    'COST' AS kind, CAST(cost AS NUMERIC) AS amount,
    CAST(usage_amount AS NUMERIC) AS usage_amount, usage_unit
  FROM picked
  UNION ALL
  SELECT p.hour, p.service, p.project, p.sku_id, p.sku, p.currency, p.picked_labels,
    IFNULL(c.type, 'CREDIT') AS kind, CAST(c.amount AS NUMERIC) AS amount,
    CAST(NULL AS NUMERIC) AS usage_amount, p.usage_unit
  FROM picked AS p, UNNEST(p.credits) AS c
)
SELECT hour, service, project, sku_id, sku, currency, kind,
  ANY_VALUE(picked_labels) AS labels,
  SUM(amount) AS amount,
  SUM(usage_amount) AS usage_amount,
  ANY_VALUE(usage_unit) AS usage_unit
FROM amounts
GROUP BY hour, service, project, sku_id, sku, currency, kind, TO_JSON_STRING(picked_labels)
ORDER BY hour, project, sku_id, kind"""


def plan_spans(window: Window, now: datetime) -> list[Window]:
    """The completed-hour spans to query for *window* (empty: nothing to ask)."""
    span = aligned_range(window, HOUR, now)
    return [] if span is None else span.split(MAX_SPAN)


def query_sql(table: str) -> str:
    return _SQL.format(table=table)


def _stamp(moment: datetime) -> str:
    # BigQuery's canonical TIMESTAMP literal, always UTC.
    return moment.strftime("%Y-%m-%d %H:%M:%S+00:00")


def _array(name: str, values: Sequence[str]) -> dict[str, object]:
    return {
        "name": name,
        "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
        "parameterValue": {"arrayValues": [{"value": v} for v in values]},
    }


def _timestamp(name: str, moment: datetime) -> dict[str, object]:
    return {
        "name": name,
        "parameterType": {"type": "TIMESTAMP"},
        "parameterValue": {"value": _stamp(moment)},
    }


def query_request(
    table: str,
    span: Window,
    services: Sequence[str],
    label_keys: Sequence[str],
    *,
    page_rows: int,
    location: str | None,
) -> dict[str, object]:
    """The ``QueryRequest`` body of *span* (standard SQL, named parameters)."""
    body: dict[str, object] = {
        "query": query_sql(table),
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": [
            _timestamp("start", span.start),
            _timestamp("end", span.end),
            _array("services", services),
            _array("label_keys", label_keys),
        ],
        "maxResults": page_rows,
        "timeoutMs": 10_000,
        # Integer microseconds instead of float seconds: exact, and the decoder
        # reads either form (:func:`.decode.parse_timestamp`).
        "formatOptions": {"useInt64Timestamp": True},
    }
    if location:
        body["location"] = location
    return body
