"""Allocation of billed cells over usage rows: records in, allocated records out.

Pure, no IO. A *cell* is the billed money of one provider account, UTC day and
combination of the dimensions a cost row names (project or workspace, API key,
user, model) and its line item; its usage rows are the priced usage rows of the
same provider account and UTC day that agree on every dimension the cost row
names and match its line item (:mod:`costpipe.allocation.charges`). The cell's
money is split over them with :func:`~costpipe.allocation.split.split` on
integer nanodollars, so a cell's allocated rows add up to its bill exactly.

Each share becomes an ``allocated`` record at the usage row's own grain (its
hour, user, key, model and enricher tags) with the cell's line item, carrying
the token counts that the line item bills. A cell no usage row matches (web
search, file search, usage the endpoints do not expose) keeps its money as
records mirroring its cost rows, with user ``unattributed``: never dropped and
never spread. Unpriced usage takes no share; it is reported per model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from costpipe.allocation.bedrock import PROVIDER as BEDROCK
from costpipe.allocation.bedrock import match_model
from costpipe.allocation.charges import Charge, charge_of, usage_tier
from costpipe.allocation.split import split
from costpipe.records import TOKEN_FIELDS, CostRecord, CostSource

__all__ = ["UNATTRIBUTED", "CellReport", "DayAllocation", "allocate", "nanos"]

#: The user of an allocated row that holds billed money no usage row matched.
UNATTRIBUTED = "unattributed"
#: The dimensions a cost row may name and a usage row must then agree on.
_MATCHED = ("project_id", "api_key_id", "user_id", "model")

CellKey = tuple[str, str, date, str, str, str, str, str]
"""provider, account, UTC day, model, user, project, API key, line item."""


def nanos(cost: Decimal) -> int:
    """Exact integer nanodollars (the stores' ``cost_nanos``, rounded half-even)."""
    return int(cost.scaleb(9).to_integral_value())


def _dollars(amount: int) -> Decimal:
    return Decimal(amount).scaleb(-9)


def _day(record: CostRecord) -> date:
    return record.start.astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class CellReport:
    """One billed cell: its bill and where it went."""

    provider: str
    account: str
    day: date
    model: str
    user_id: str
    project_id: str
    api_key_id: str
    line_item: str
    billed_nanos: int
    usage_rows: int
    """Usage rows that took a share (0: the whole bill is unattributed)."""

    @property
    def unattributed_nanos(self) -> int:
        return 0 if self.usage_rows else self.billed_nanos


@dataclass(slots=True)
class DayAllocation:
    """The allocated records of some provider account days, and the report."""

    records: list[CostRecord] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)
    unpriced_tokens: dict[tuple[str, str, date, str], int] = field(default_factory=dict)
    """Tokens of unpriced usage (no share) per provider, account, day and model."""
    unbilled_nanos: dict[tuple[str, str, date, str], int] = field(default_factory=dict)
    """Estimated usage no cell matched, per provider, account, day and model."""


def _cell_key(record: CostRecord) -> CellKey:
    return (
        record.provider,
        record.account,
        _day(record),
        record.model,
        record.user_id,
        record.project_id,
        record.api_key_id,
        record.line_item,
    )


def _model_key(provider: str, model: str) -> str:
    """What a usage row's model is matched on: Bedrock's billed and CloudWatch
    names differ (:func:`~costpipe.allocation.bedrock.match_model`)."""
    return match_model(model) if provider == BEDROCK else model


def _weight(record: CostRecord, charge: Charge) -> int:
    if charge.token_fields is None:
        return nanos(record.cost_usd)
    return sum(getattr(record, name) for name in charge.token_fields)


def allocate(billed: Iterable[CostRecord], usage: Iterable[CostRecord]) -> DayAllocation:
    """Allocate every cell of *billed* over *usage* (see the module doc). Rows of
    any basis but ``billed`` in *billed*, and of any but estimated/unpriced in
    *usage*, are ignored. The result does not depend on the order of the inputs."""
    result = DayAllocation()
    cells: dict[CellKey, list[CostRecord]] = defaultdict(list)
    for record in billed:
        if record.cost_source is CostSource.BILLED:
            cells[_cell_key(record)].append(record)
    by_day: dict[tuple[str, str, date], list[CostRecord]] = defaultdict(list)
    by_model: dict[tuple[str, str, date, str], list[CostRecord]] = defaultdict(list)
    # Key order makes the split deterministic whatever the input order; each
    # row's key is hashed once here (hashing is most of the cost of a day).
    keyed = sorted(((r.key, r) for r in usage), key=lambda pair: pair[0])
    usage_key = {id(r): key for key, r in keyed}
    for _, record in keyed:
        if record.cost_source is CostSource.UNPRICED:
            slot = (record.provider, record.account, _day(record), record.model)
            tokens = record.input_tokens + record.output_tokens
            result.unpriced_tokens[slot] = result.unpriced_tokens.get(slot, 0) + tokens
        elif record.cost_source is CostSource.ESTIMATED:
            day_key = (record.provider, record.account, _day(record))
            by_day[day_key].append(record)
            by_model[(*day_key, _model_key(record.provider, record.model))].append(record)
    matched: set[str] = set()
    merged: dict[Identity, CostRecord] = {}
    for key in sorted(cells):
        rows = cells[key]
        amount = sum(nanos(r.cost_usd) for r in rows)
        charge = charge_of(key[0], key[7])
        # A cell that names a model is matched against that model's rows only.
        model = _model_key(key[0], key[3])
        if key[3] and not model:
            candidates: Sequence[CostRecord] = ()  # a name no grammar reads: unattributed
        else:
            candidates = by_model.get((*key[:3], model), ()) if model else by_day.get(key[:3], ())
        sharers = _sharers(rows[0], charge, candidates)
        if sharers:
            shares = split(amount, [w for _, w in sharers])
            for (row, _), share in zip(sharers, shares, strict=True):
                matched.add(usage_key[id(row)])
                _merge(merged, _allocated(row, rows[0], charge, share))
        else:
            for row in rows:
                _merge(merged, _unattributed(row))
        result.cells.append(CellReport(*key, billed_nanos=amount, usage_rows=len(sharers)))
    for (provider, account, day), rows in by_day.items():
        for row in rows:
            if usage_key[id(row)] not in matched and (weight := nanos(row.cost_usd)):
                slot = (provider, account, day, row.model)
                result.unbilled_nanos[slot] = result.unbilled_nanos.get(slot, 0) + weight
    result.records = [merged[k] for k in sorted(merged, key=_order)]
    return result


def _sharers(
    cell: CostRecord, charge: Charge, candidates: Sequence[CostRecord]
) -> list[tuple[CostRecord, int]]:
    """The usage rows of *cell* with a positive weight, in key order."""
    if not charge.usage:
        return []
    # The model was matched by its key when the candidates were chosen.
    names = [n for n in _MATCHED if n != "model" and n not in charge.unmatched]
    wanted = [(name, getattr(cell, name)) for name in names if getattr(cell, name)]
    sharers: list[tuple[CostRecord, int]] = []
    for row in candidates:
        if any(getattr(row, name) != value for name, value in wanted):
            continue
        if charge.tier is not None and usage_tier(row.provider, row.line_item) != charge.tier:
            continue
        weight = _weight(row, charge)
        if weight > 0:
            sharers.append((row, weight))
    return sharers


def _allocated(row: CostRecord, cell: CostRecord, charge: Charge, share: int) -> CostRecord:
    fields = TOKEN_FIELDS if charge.token_fields is None else charge.token_fields
    allocated = CostRecord(
        start=row.start,
        width=row.width,
        provider=row.provider,
        account=row.account,
        cost_source=CostSource.ALLOCATED,
        cost_usd=_dollars(share),
        model=row.model,
        user_id=row.user_id,
        project_id=row.project_id,
        api_key_id=row.api_key_id,
        line_item=cell.line_item,
        tags=row.tags,
        **{name: getattr(row, name) for name in fields},
    )
    if not charge.unmatched:
        return allocated
    return allocated.replace(**{name: getattr(cell, name) for name in charge.unmatched})


def _unattributed(row: CostRecord) -> CostRecord:
    return row.replace(
        cost_source=CostSource.ALLOCATED,
        user_id=row.user_id or UNATTRIBUTED,
        cost_usd=_dollars(nanos(row.cost_usd)),
    )


Identity = tuple[object, ...]


def _identity(record: CostRecord) -> Identity:
    """What :attr:`CostRecord.key` hashes (all allocated rows share a basis),
    as a tuple: equal exactly when the keys are, without hashing."""
    return (
        record.provider,
        record.account,
        record.start,
        record.width,
        record.model,
        record.user_id,
        record.project_id,
        record.api_key_id,
        record.line_item,
    )


def _merge(merged: dict[Identity, CostRecord], record: CostRecord) -> None:
    """Rows of one key (two usage rows that differ only in their usage line
    item) are one allocated row: money and counts add up."""
    identity = _identity(record)
    previous = merged.get(identity)
    if previous is None:
        merged[identity] = record
        return
    counts = {n: getattr(previous, n) + getattr(record, n) for n in TOKEN_FIELDS}
    total = _dollars(nanos(previous.cost_usd) + nanos(record.cost_usd))
    merged[identity] = previous.replace(cost_usd=total, **counts)


def _order(identity: Identity) -> tuple[str, ...]:
    return tuple(str(part) for part in identity)


def day_start(day: date) -> datetime:
    """Midnight UTC of *day*."""
    return datetime.combine(day, time(0), tzinfo=UTC)
