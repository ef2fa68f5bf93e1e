"""The wire schema of BigQuery's ``jobs.query`` / ``jobs.getQueryResults`` answers.

Source: the BigQuery v2 discovery document
(https://bigquery.googleapis.com/discovery/rest?version=v2), schemas
``QueryResponse`` and ``GetQueryResultsResponse``: ``jobComplete`` (bool; when
false there are no ``rows``, ``schema`` or ``totalRows``), ``jobReference``
(``projectId``, ``jobId``, ``location``), ``totalRows`` (uint64 *as a string*),
``pageToken``, ``schema`` (``TableSchema.fields[]``: ``name``, ``type``,
``mode``, nested ``fields`` of a RECORD), ``rows`` (``TableRow.f[]`` of
``TableCell.v``). A cell's ``v`` is a string for every scalar type, ``null``
for NULL, ``{"f": [...]}`` for a RECORD and ``[{"v": ...}, ...]`` for a
REPEATED field. Numbers are decoded as Decimal from the JSON text
(``float_hook``) in case a server ever writes one as a JSON number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

__all__ = ["Field", "JobReference", "QueryResponse", "decode_response", "error_reason"]


class Field(msgspec.Struct, frozen=True):
    name: str
    type: str = "STRING"
    mode: str = "NULLABLE"
    fields: list[Field] = []


class Schema(msgspec.Struct, frozen=True):
    fields: list[Field] = []


class Cell(msgspec.Struct, frozen=True):
    v: Any = None


class Row(msgspec.Struct, frozen=True):
    f: list[Cell] = []


class JobReference(msgspec.Struct, frozen=True):
    projectId: str
    jobId: str
    location: str | None = None


class QueryResponse(msgspec.Struct, frozen=True):
    jobComplete: bool = False
    jobReference: JobReference | None = None
    schema: Schema | None = None
    rows: list[Row] = []
    pageToken: str | None = None
    totalRows: str | None = None
    totalBytesProcessed: str | None = None


class _ErrorItem(msgspec.Struct, frozen=True):
    reason: str = ""
    message: str = ""


class _Error(msgspec.Struct, frozen=True):
    code: int = 0
    message: str = ""
    status: str = ""
    errors: list[_ErrorItem] = []


class _ErrorEnvelope(msgspec.Struct, frozen=True):
    error: _Error | None = None


_DECODER = msgspec.json.Decoder(QueryResponse, float_hook=Decimal)


def decode_response(body: bytes) -> QueryResponse:
    """One ``QueryResponse`` / ``GetQueryResultsResponse``; raises ``msgspec`` errors."""
    return _DECODER.decode(body)


def error_reason(body: bytes) -> tuple[str, str]:
    """``(reason, message)`` of a Google API error body (``error.errors[0].reason``,
    else ``error.status``); empty strings when it has another shape."""
    try:
        envelope = msgspec.json.decode(body, type=_ErrorEnvelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", ""
    error = envelope.error
    if error is None:
        return "", ""
    first = error.errors[0] if error.errors else _ErrorItem()
    return first.reason or error.status, first.message or error.message
