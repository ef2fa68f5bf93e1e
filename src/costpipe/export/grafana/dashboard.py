"""The Grafana dashboard, assembled with grafana-foundation-sdk.

The SDK has builders for the dashboard, its variables and every panel type
used here, but no InfluxDB query type; :class:`InfluxQL` adds one (a raw
InfluxQL target, what Grafana's InfluxDB data source stores for a query typed
in its editor). Queries come from :mod:`.queries`; budgets from the config's
``[[budgets]]``; the time zone from ``[pipeline] timezone`` (the dashboard's
own zone, and the days the trend is cut into).

The same views as the Panel app: total, spend by dimension, trend, budgets'
spend against their limits, unpriced usage and data freshness.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models

from costpipe.config.sections import BudgetConfig
from costpipe.export.grafana import queries
from costpipe.query.api import Basis
from costpipe.records import TEXT_DIMENSIONS

__all__ = ["DASHBOARD_UID", "InfluxQL", "build_dashboard", "dashboard_json"]

DASHBOARD_UID = "costpipe"
_DATASOURCE = models.DataSourceRef(type_val="influxdb", uid="${datasource}")
#: Grafana's relative ranges for "this period so far", by budget period.
_PERIOD_SO_FAR = {"day": "now/d", "week": "now/w", "month": "now/M"}
_WIDTH = 24


class InfluxQL(Builder[Dataquery]):
    """A raw InfluxQL target (``rawQuery``), as Grafana's InfluxDB data source saves it."""

    class Query(Dataquery):
        def __init__(self, ref_id: str, query: str, result_format: str, alias: str) -> None:
            self.ref_id = ref_id
            self.query = query
            self.result_format = result_format
            self.alias = alias

        def to_json(self) -> dict[str, object]:
            payload: dict[str, object] = {
                "refId": self.ref_id,
                "datasource": {"type": "influxdb", "uid": "${datasource}"},
                "query": self.query,
                "rawQuery": True,
                "resultFormat": self.result_format,
            }
            if self.alias:
                payload["alias"] = self.alias
            return payload

    def __init__(
        self, query: str, *, ref_id: str = "A", table_format: bool = False, alias: str = ""
    ) -> None:
        self._query = self.Query(ref_id, query, "table" if table_format else "time_series", alias)

    def build(self) -> Dataquery:
        return self._query


def _grid(x: int, y: int, w: int, h: int) -> models.GridPos:
    return models.GridPos(h=h, w=w, x=x, y=y)


def _regex_variable(name: str, tag: str, label: str) -> builders.QueryVariable:
    return (
        builders.QueryVariable(name)
        .label(label)
        .datasource(_DATASOURCE)
        .query(f'SHOW TAG VALUES FROM "{queries.MEASUREMENT}" WITH KEY = "{tag}"')
        .multi(True)
        .include_all(True)
        .all_value(".*")  # matches records without the tag too
        .current(models.VariableOption(selected=True, text="All", value="$__all"))
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )


def _custom(name: str, label: str, values: Sequence[str], current: str) -> builders.CustomVariable:
    return (
        builders.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .current(models.VariableOption(selected=True, text=current, value=current))
    )


def _variables(timezone: str) -> list[Builder[models.VariableModel]]:
    stored = [b.value for b in Basis if b.stored]
    return [
        builders.DatasourceVariable("datasource").label("InfluxDB").type("influxdb"),
        *(
            _regex_variable(name, tag, name.capitalize())
            for name, tag in queries.FILTER_VARIABLES.items()
        ),
        _custom("basis", "Basis", stored, Basis.BILLED.value),
        _custom("dimension", "By", TEXT_DIMENSIONS, "model"),
        _custom("granularity", "Per", ["1d", "1h"], "1d"),
        builders.ConstantVariable("tz").value(timezone),
    ]


def _money(panel: Any) -> Any:
    return panel.unit("currencyUSD").decimals(2).datasource(_DATASOURCE)


def _budget_panel(budget: BudgetConfig, x: int, y: int, w: int) -> bargauge.Panel:
    panel: bargauge.Panel = _money(bargauge.Panel())
    amount = float(Decimal(budget.amount_usd))
    steps = [models.Threshold(value=None, color="green")]
    colors = ["yellow", "orange", "red", "dark-red"]
    for index, percent in enumerate(sorted(budget.thresholds)):
        steps.append(models.Threshold(value=amount * percent / 100, color=colors[min(index, 3)]))
    tag = budget.group_by
    query = queries.budget_spend(budget.cost_basis, budget.filters, tag)
    alias = f"$tag_{'tag_' + tag if tag == 'cost_source' else tag}" if tag else budget.name
    return (
        panel.title(
            f"{budget.name}: {budget.period} budget {budget.amount_usd} USD ({budget.cost_basis})"
        )
        .description(
            "Spend of this calendar period so far against the budget; lines at its alert "
            "thresholds. The period follows the dashboard's time zone (costpipe's "
            "[pipeline] timezone)."
        )
        .time_from(_PERIOD_SO_FAR[budget.period])
        .min(0)
        .max(amount)
        .thresholds(builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["sum"]).values(False))
        .with_target(InfluxQL(query, alias=alias))
        .grid_pos(_grid(x, y, w, 6))
    )


def build_dashboard(budgets: Sequence[BudgetConfig], timezone: str = "UTC") -> builders.Dashboard:
    """The dashboard for *budgets* with days in *timezone* (an IANA name)."""
    board = (
        builders.Dashboard("costpipe: AI spend")
        .uid(DASHBOARD_UID)
        .tags(["costpipe", "finops", "ai"])
        .description(
            "AI spend from costpipe's InfluxDB store (dashboards/grafana, docs/grafana.md)."
        )
        .timezone("utc" if timezone == "UTC" else timezone)
        .week_start("monday")
        .time("now-30d", "now")
        .refresh("15m")
        .editable()
    )
    for variable in _variables(timezone):
        board = board.with_variable(variable)
    board = board.with_row(builders.Row("Spend"))
    board = board.with_panel(
        _money(stat.Panel())
        .title("Total spend ($basis)")
        .with_target(InfluxQL(queries.total()))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["sum"]))
        .grid_pos(_grid(0, 1, 6, 8))
    )
    board = board.with_panel(
        _money(timeseries.Panel())
        .title("Spend per $granularity ($basis, days in $tz)")
        .with_target(InfluxQL(queries.trend(), alias="spend"))
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .grid_pos(_grid(6, 1, 18, 8))
    )
    board = board.with_panel(
        _money(table.Panel())
        .title("Spend by $dimension ($basis)")
        .with_target(InfluxQL(queries.by_dimension(), table_format=True))
        .sort_by([common_builders.TableSortByFieldState().display_name("spend").desc(True)])
        .grid_pos(_grid(0, 9, _WIDTH, 9))
    )
    y = 18
    if budgets:
        board = board.with_row(builders.Row("Budgets"))
        y += 1
        width = max(_WIDTH // min(len(budgets), 3), 8)
        for index, budget in enumerate(budgets):
            x = (index % 3) * width
            board = board.with_panel(_budget_panel(budget, x, y + (index // 3) * 6, width))
        y += 6 * ((len(budgets) + 2) // 3)
    board = board.with_row(builders.Row("Coverage and freshness"))
    board = board.with_panel(
        table.Panel()
        .datasource(_DATASOURCE)
        .title("Unpriced usage (tokens with no price: unknown cost, not $0)")
        .with_target(InfluxQL(queries.unpriced_usage(), table_format=True))
        .with_transformation(
            models.DataTransformerConfig(
                id_val="calculateField",
                options={
                    "mode": "reduceRow",
                    "reduce": {"reducer": "sum", "include": list(queries.TOKEN_COUNTERS)},
                    "alias": "tokens",
                },
            )
        )
        .grid_pos(_grid(0, y + 1, 14, 8))
    )
    return board.with_panel(
        table.Panel()
        .datasource(_DATASOURCE)
        .title("Latest stored bucket per provider instance")
        .description("When data stops arriving, the latest bucket falls behind.")
        .with_target(InfluxQL(queries.freshness(), table_format=True))
        .grid_pos(_grid(14, y + 1, 10, 8))
    )


def dashboard_json(budgets: Sequence[BudgetConfig], timezone: str = "UTC") -> str:
    """The dashboard as the committed file holds it: panels numbered in order (Grafana
    links and repeats panels by id), stable key order, two-space indent."""
    built = build_dashboard(budgets, timezone).build()
    document: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    for number, panel in enumerate(document.get("panels", []), start=1):
        panel["id"] = number
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
