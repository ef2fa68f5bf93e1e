"""What Grafana does to a panel's InfluxQL before sending it, for tests.

Grafana's InfluxDB data source replaces ``$timeFilter`` with
``time >= <from>ms and time <= <to>ms`` and each ``$variable`` with its value;
a multi-value or include-All variable used in a regex is regex-escaped and
several values are joined as ``(a|b)``, while a custom All value (``.*``) is
sent as it is. This module does the same, so a panel's query can be run
against a real influxd exactly as Grafana would run it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

ALL = ".*"
_REGEX_SPECIALS = re.compile(r"([\\^$.|?*+()\[\]{}/])")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def regex_value(values: Sequence[str] | str) -> str:
    if isinstance(values, str):
        return values  # the All value
    escaped = [_REGEX_SPECIALS.sub(r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def interpolate(
    query: str, start: datetime, end: datetime, variables: Mapping[str, str | Sequence[str]]
) -> str:
    """*query* as Grafana sends it for the range ``[start, end)`` (Grafana's ``to``
    is inclusive, so it is ``end`` less one millisecond, as an absolute range
    ending at 23:59:59.999 is) and the variables' values."""
    text = query.replace(
        "$timeFilter", f"time >= {millis(start)}ms and time <= {millis(end) - 1}ms"
    )
    for name in sorted(variables, key=len, reverse=True):
        value = variables[name]
        rendered = value if isinstance(value, str) else regex_value(value)
        text = text.replace("${" + name + "}", rendered).replace("$" + name, rendered)
    assert not re.search(r"(?<!\\)\$(?:\{|[a-z_])", text), f"a variable left: {text}"
    return text


def run(url: str, database: str, statement: str) -> list[dict[str, Any]]:
    """The series influxd answers for one statement (``epoch=ms``, as Grafana asks)."""
    params = urlencode({"db": database, "q": statement, "epoch": "ms"})
    with urlopen(f"{url}/query?{params}", timeout=30) as response:
        payload = json.loads(response.read())
    (result,) = payload["results"]
    assert "error" not in result, (statement, result)
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def panels(path: Path) -> dict[str, dict[str, Any]]:
    """The dashboard's panels with a query, by title."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {p["title"]: p for p in document["panels"] if p.get("targets")}


def variables(path: Path) -> dict[str, dict[str, Any]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {v["name"]: v for v in document["templating"]["list"]}


def from_millis(stamp: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(stamp))
