"""The wire schema of the Cost Management Query API's answer (``QueryResult``).

Source: Azure/azure-rest-api-specs,
``specification/cost-management/resource-manager/Microsoft.CostManagement/stable/2023-11-01/costmanagement.json``
(operation ``Query_Usage``, ``POST {scope}/providers/Microsoft.CostManagement/query``;
definitions ``QueryResult`` -> ``properties`` (``QueryProperties``: ``nextLink``,
``columns`` (``QueryColumn``: ``name``, ``type``), ``rows``: array of arrays of
any)). The 2019-01-01 examples (``SubscriptionQueryGrouping.json``) wrap the
result in ``{"value": [QueryResult]}``; both shapes are read.

Readings that differ between API versions, all accepted:

* the money column is ``Cost`` (ActualCost with ``aggregation.totalCost.name =
  Cost``), ``PreTaxCost`` (older versions, Usage type) or ``CostUSD``; the
  currency is the ``Currency`` column (``USD`` expected: another currency
  without a ``CostUSD`` column refuses the page rather than mislabel money);
* ``UsageDate`` is a Number ``20201101`` (column type ``Number``), a String
  ``"20201101"`` or an ISO date-time ``"2020-11-01T00:00:00"`` (column type
  ``Datetime``);
* numbers are read from the JSON text as Decimal (``float_hook``), never via
  a float, so ``0.009865586851323632`` stays exact.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

__all__ = ["QueryColumn", "QueryEnvelope", "QueryProperties", "decode_query"]


class QueryColumn(msgspec.Struct, frozen=True):
    name: str
    type: str | None = None


class QueryProperties(msgspec.Struct, frozen=True):
    columns: list[QueryColumn] = []
    rows: list[list[Any]] = []
    nextLink: str | None = None


class _Result(msgspec.Struct, frozen=True):
    properties: QueryProperties | None = None


class QueryEnvelope(msgspec.Struct, frozen=True):
    """Either ``QueryResult`` itself or the older ``{"value": [QueryResult]}``."""

    properties: QueryProperties | None = None
    value: list[_Result] | None = None

    def merged(self) -> QueryProperties:
        if self.properties is not None:
            return self.properties
        parts = [r.properties for r in self.value or () if r.properties is not None]
        if not parts:
            return QueryProperties()
        rows = [row for part in parts for row in part.rows]
        return QueryProperties(parts[0].columns, rows, parts[-1].nextLink)


_DECODER = msgspec.json.Decoder(QueryEnvelope, float_hook=Decimal)


def decode_query(body: bytes) -> QueryProperties:
    """Columns, rows and nextLink of one page; raises ``msgspec`` errors."""
    return _DECODER.decode(body).merged()
