"""Stores holding hostile dimension values, for the dashboard's injection tests.

Every hostile string is a legitimate ``project_id`` of exactly one billed
record with a cost no other record (or sum of records) has, so a filter that
matched more than itself, or nothing, shows a different figure.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from costpipe.components import ComponentContext, Sink
from costpipe.config.settings import (
    AlertSettings,
    ComponentSpec,
    DashboardSettings,
    HealthSettings,
    PipelineSettings,
    Settings,
)
from costpipe.query.api import Basis, CostQuery
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.encoder import stored_tag_value
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink

from ..dashboard.conftest import NOW, TIMEZONE

#: Filter values that would break a query built by string concatenation.
HOSTILE: tuple[str, ...] = (
    "' OR 1=1 --",
    '"; DROP MEASUREMENT ai_costs; --',
    "'; SELECT * FROM costs; --",
    "'; DROP TABLE costs; --",
    "' OR ''='",
    '" OR ""="',
    "/.*/",
    "/.*",
    "\\",
    "\\\\'",
    "%",
    "_",
    "*",
    ") OR (1=1",
    "Zoë 🚀 项目 \u202eevil\u202c ﷺ",
    "K" * 10_000,
)
#: Legitimate projects next to the hostile ones.
PLAIN: tuple[str, ...] = ("proj_a", "proj_b")
#: Strings that are neither a dimension nor a tag name.
HOSTILE_DIMENSIONS: tuple[str, ...] = (
    "project_id; DROP TABLE costs",
    'model" FROM ai_costs; DROP MEASUREMENT ai_costs; --',
    "project_id OR 1=1",
    "cost_usd",
    "cost_nanos",
    "time",
    "*",
    "",
    "team'",
    "/.*/",
    "tag_team",
    "Projekt ✓",
    "p" * 10_000,
)
#: A whole day well inside "last 7 days" at :data:`NOW`.
DAY = (NOW - timedelta(days=2)).replace(hour=0, minute=0)
#: Wide enough to hold every record: the store's totals before and after.
EVERYTHING = CostQuery(NOW - timedelta(days=400), NOW + timedelta(days=400), Basis.BILLED)


def hostile_records() -> list[CostRecord]:
    """One billed record per project (hostile and plain), distinct costs that
    are powers of two in cents, so every subset has its own sum."""
    projects = (*PLAIN, *HOSTILE)
    return [
        CostRecord(
            start=DAY,
            width=timedelta(days=1),
            provider="openai",
            account="org-rel",
            cost_source=CostSource.BILLED,
            cost_usd=Decimal(2**index) / 100,
            model="gpt-4.1-2025-04-14" if index % 2 else "o3-2025-04-16",
            project_id=project,
            line_item="usage",
            tags=(("team", "blue"),),
        )
        for index, project in enumerate(projects)
    ]


def markup_names(base: str) -> dict[str, str]:
    """Hostile *display* names: HTML that runs script, Markdown that fetches from
    *base* (a pixel server on loopback) or turns into a link, and text that only
    looks like markup. The page must show each one literally."""
    return {
        "img": '<img src=x onerror="alert(1)">',
        "script": "<script>alert(2)</script>",
        "svg": "<svg onload=alert(3)><b>bold</b>",
        "pixel": f"![t]({base}/pixel.png)",
        "link": f"[click to confirm]({base}/phish)",
        "entity": "AT&amp;T &lt;b&gt;",
        "tex": f"$$\\href{{{base}/tex}}{{x}}$$",
    }


def markup_records(base: str) -> list[CostRecord]:
    """Billed, estimated and unpriced rows whose model, user, project and key
    names are :func:`markup_names` (the unpriced ones feed the banner)."""
    rows: list[CostRecord] = []
    for index, name in enumerate(markup_names(base).values()):
        common: dict[str, Any] = {
            "start": DAY,
            "provider": "openai",
            "account": "org-rel",
            "model": name,
            "user_id": name,
            "project_id": name,
            "api_key_id": name,
            "line_item": name,
        }
        # Within 40 % of each other, so that every bar is long enough to hover.
        cost = Decimal(100 + 2**index) / 100
        rows.append(
            CostRecord(
                width=timedelta(days=1), cost_source=CostSource.BILLED, cost_usd=cost, **common
            )
        )
        rows.append(
            CostRecord(
                width=timedelta(hours=1),
                cost_source=CostSource.ESTIMATED,
                cost_usd=cost,
                uncached_input_tokens=1000 + index,
                **common,
            )
        )
        rows.append(
            CostRecord(
                width=timedelta(hours=1),
                cost_source=CostSource.UNPRICED,
                uncached_input_tokens=5000 + index,
                **{**common, "start": DAY + timedelta(hours=1)},
            )
        )
    return rows


def stored_value(kind: str, value: str) -> str:
    """The value the store gives back for *value* (InfluxDB: the encoder's rules)."""
    return stored_tag_value(value) if kind == "influxdb" else value


def sink_spec(kind: str, where: Path | str, database: str = "") -> ComponentSpec:
    """``[[sinks.sqlite]]`` at *where*, or ``[[sinks.influxdb]]`` at URL *where*."""
    if kind == "sqlite":
        config: Any = SQLiteConfig(path=Path(where))
        return ComponentSpec("sinks", "sqlite", "sqlite.0", "sinks.sqlite[0]", SQLiteSink, config)
    config = InfluxDBConfig(url=str(where), database=database)
    return ComponentSpec(
        "sinks", "influxdb", "influxdb.0", "sinks.influxdb[0]", InfluxDBSink, config
    )


def settings_for(spec: ComponentSpec, state_dir: Path) -> Settings:
    return Settings(
        pipeline=PipelineSettings(timezone=TIMEZONE, state_dir=state_dir),
        components={"sinks": [spec]},
        budgets=[],
        alerts=AlertSettings(),
        health=HealthSettings(),
        dashboard=DashboardSettings(),
    )


def open_sink(spec: ComponentSpec, state_dir: Path) -> Sink[Any]:
    sink: Sink[Any] = spec.cls(spec.config, ComponentContext(spec.instance, state_dir))  # type: ignore[assignment]
    return sink


async def fill(spec: ComponentSpec, state_dir: Path, records: list[CostRecord]) -> None:
    sink = open_sink(spec, state_dir)
    await sink.start()
    try:
        await sink.write(records)
    finally:
        await sink.close()


async def store_totals(spec: ComponentSpec, state_dir: Path) -> tuple[Decimal, Decimal, int]:
    """Billed and estimated all-time totals and the number of projects, read afresh."""
    sink = open_sink(spec, state_dir)
    await sink.start()
    try:
        reader = sink.reader()
        assert reader is not None
        billed = await reader.total(EVERYTHING)
        estimated = await reader.total(CostQuery(EVERYTHING.start, EVERYTHING.end, Basis.ESTIMATED))
        groups = await reader.breakdown(EVERYTHING, "project_id")
        return billed, estimated, len(groups)
    finally:
        await sink.close()
