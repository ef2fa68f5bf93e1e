"""Pure decoding of ``/spend/logs/v2`` pages and their hourly aggregation.

:func:`decode` turns the bytes of one page into typed rows
(:mod:`costpipe.providers.litellm.schema` says which source each field
mirrors) or raises :class:`~costpipe.providers.typed_json.PageMalformed`
with the JSON path of the bad field. :class:`HourlySpend` adds the rows of
one walked piece into hourly records; neither does IO.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from costpipe.providers.litellm.schema import SpendLog, SpendLogsPage
from costpipe.providers.typed_json import decode_page
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["HOUR", "HourlySpend", "decode"]

HOUR = timedelta(hours=1)
_DECODER = msgspec.json.Decoder(SpendLogsPage)

#: (hour number, user, team, virtual key hash, model, upstream provider); the hour
#: number is ``toordinal() * 24 + hour`` of the UTC start: ``datetime.replace``
#: costs several times more per row than the whole rest of the key.
GroupKey = tuple[int, str, str, str, str, str]


def decode(page: bytes) -> SpendLogsPage:
    """The rows and paging fields of one page; PageMalformed when it is not one."""
    return decode_page(_DECODER, page)


@dataclass(slots=True)
class _Group:
    cost: Decimal
    prompt: int = 0
    completion: int = 0
    requests: int = 0


class HourlySpend:
    """The rows of one walked piece, de-duplicated by ``request_id`` and summed
    per hour and (user, team, key, model, upstream provider)."""

    def __init__(self, piece: Window) -> None:
        self.piece = piece
        self.duplicates = 0
        """Rows served twice in one piece (OFFSET pages of a crowded second, or a
        server that ignores the slice's range), counted once."""
        self._seen: set[str] = set()
        self._groups: dict[GroupKey, _Group] = {}

    def add(self, rows: Iterable[SpendLog], within: Window | None = None) -> None:
        """Count the rows starting in *within* (a slice of the piece; default the
        whole piece), each ``request_id`` once."""
        span = within or self.piece
        start, end = max(span.start, self.piece.start), min(span.end, self.piece.end)
        seen, groups = self._seen, self._groups
        for row in rows:
            moment = row.start_time
            if not start <= moment < end:
                continue  # the inclusive end_date (the next slice's), or a server ignoring it
            if row.request_id in seen:
                self.duplicates += 1
                continue
            seen.add(row.request_id)
            key = (
                moment.toordinal() * 24 + moment.hour,
                row.user or "",
                row.team_id or "",
                row.api_key or "",
                row.model or row.model_group or "",
                row.custom_llm_provider or "",
            )
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(row.spend)
            else:
                group.cost += row.spend
            group.prompt += row.prompt_tokens or 0
            group.completion += row.completion_tokens or 0
            group.requests += 1

    def records(self, account: str) -> list[CostRecord]:
        """One billed record per hour and group."""
        hours: dict[int, datetime] = {}
        for number, *_ in self._groups:
            if number not in hours:
                day = datetime.fromordinal(number // 24).replace(tzinfo=UTC)
                hours[number] = day + (number % 24) * HOUR
        return [
            CostRecord(
                start=hours[number],
                width=HOUR,
                provider="litellm",
                account=account,
                cost_source=CostSource.BILLED,
                cost_usd=group.cost,
                model=model,
                user_id=user,
                project_id=team,
                api_key_id=api_key,
                line_item=upstream,
                uncached_input_tokens=group.prompt,
                output_tokens=group.completion,
                requests=group.requests,
            )
            for (number, user, team, api_key, model, upstream), group in self._groups.items()
        ]
