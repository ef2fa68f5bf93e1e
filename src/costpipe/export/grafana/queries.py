"""Every panel's InfluxQL, with Grafana's template variables, in one place.

The statements read what the InfluxDB sink writes (``docs/storage.md``): the
measurement ``ai_costs``, money summed from the exact integer field
``cost_nanos``, the basis as the ``cost_source`` tag and unpriced usage as the
boolean field ``unpriced``. Dimension and counter names come from
:mod:`costpipe.records`, so a new counter or dimension reaches the dashboard
when it is regenerated.

Template variables: ``$provider``, ``$model``, ``$project`` and ``$user``
(multi-value, "All" is ``.*``, matched as regexes as Grafana's InfluxDB data
source expects), ``$basis`` (a stored basis), ``$dimension`` (the breakdown's
tag), ``$granularity`` (``1h`` or ``1d``) and ``$tz`` (the IANA zone whose days
the trend is cut into, the dashboard's time zone). ``$timeFilter`` is Grafana's
own: ``time >= <from>ms and time <= <to>ms``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, UNIT_FIELDS

__all__ = [
    "FILTER_VARIABLES",
    "MEASUREMENT",
    "TOKEN_COUNTERS",
    "budget_spend",
    "by_dimension",
    "dimension_filters",
    "freshness",
    "quote_string",
    "total",
    "trend",
    "unpriced_usage",
]

#: The InfluxDB sink's measurement (``costpipe.sinks.influxdb.encoder.MEASUREMENT``;
#: a test keeps the two equal, the export package does not import a sink).
MEASUREMENT = "ai_costs"
#: Template variable -> the tag it filters.
FILTER_VARIABLES: Mapping[str, str] = {
    "provider": "provider",
    "model": "model",
    "project": "project_id",
    "user": "user_id",
}
#: Counters that are tokens (the unpriced-usage panel adds them up per model).
TOKEN_COUNTERS: tuple[str, ...] = tuple(f for f in TOKEN_FIELDS if f.endswith("_tokens"))
_MONEY = 'sum("cost_nanos") / 1000000000'
_FROM = f'"{MEASUREMENT}"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal holding exactly *value*."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dimension_filters() -> str:
    """The four dashboard filters, ANDed (``.*`` for All matches a missing tag too)."""
    return " AND ".join(f"{_ident(tag)} =~ /^${var}$/" for var, tag in FILTER_VARIABLES.items())


def _where(*extra: str) -> str:
    return " AND ".join(("$timeFilter", *extra, dimension_filters()))


_BASIS = "\"cost_source\" = '$basis'"


def total() -> str:
    """Spend in the time range on the chosen basis."""
    return f'SELECT {_MONEY} AS "spend" FROM {_FROM} WHERE {_where(_BASIS)}'


def by_dimension() -> str:
    """Spend per value of ``$dimension``."""
    return f'SELECT {_MONEY} AS "spend" FROM {_FROM} WHERE {_where(_BASIS)} GROUP BY "$dimension"'


def trend() -> str:
    """Spend per hour or per calendar day in ``$tz`` (DST-safe, as InfluxDB cuts it)."""
    return (
        f'SELECT {_MONEY} AS "spend" FROM {_FROM} WHERE {_where(_BASIS)} '
        "GROUP BY time($granularity) fill(none) tz('$tz')"
    )


def unpriced_usage() -> str:
    """Counters of unpriced usage per model (one column per counter: a field older
    points lack stays null alone; the panel adds the token columns up)."""
    columns = ", ".join(f'sum("{f}") AS "{f}"' for f in (*TOKEN_COUNTERS, *UNIT_FIELDS))
    where = _where('"unpriced" = true')
    return f'SELECT {columns} FROM {_FROM} WHERE {where} GROUP BY "model"'


def freshness() -> str:
    """The latest stored bucket per provider instance in the time range."""
    return (
        f'SELECT last("cost_nanos") AS "latest" FROM {_FROM} WHERE $timeFilter '
        'GROUP BY "provider", "account"'
    )


def budget_spend(basis: str, filters: Mapping[str, Sequence[str]], group_by: str | None) -> str:
    """One budget's spend in the panel's time range (its period so far), with the
    budget's own basis and filters written in, per group when it has one."""
    parts = ["$timeFilter", f'"cost_source" = {quote_string(basis)}']
    for name, values in sorted(filters.items()):
        tag = _tag(name)
        parts.append("(" + " OR ".join(f"{tag} = {quote_string(v)}" for v in values) + ")")
    group = f" GROUP BY {_tag(group_by)}" if group_by else ""
    return f'SELECT {_MONEY} AS "spend" FROM {_FROM} WHERE {" AND ".join(parts)}{group}'


def _tag(name: str) -> str:
    """A built-in dimension's tag, or an enricher tag (stored as ``tag_<name>`` when
    the name is a built-in tag or field, as the sink's encoder does)."""
    reserved = {*TEXT_DIMENSIONS, "cost_source", "cost_usd", "cost_nanos", *TOKEN_FIELDS}
    if name in TEXT_DIMENSIONS:
        return _ident(name)
    return _ident(f"tag_{name}" if name in reserved | {"unpriced", "time"} else name)
