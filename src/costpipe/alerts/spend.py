"""What every budget rule has spent in its current period, for the whole pass at once.

Rules are not queried one by one: their questions go to the store as one batch
(:func:`costpipe.query.grouped.spend`), which a grouped store answers with one
grouped query per range and basis, whatever the number of rules. When the batch
fails (a rule names a dimension the store does not know, or the store is
unreachable), each rule is asked on its own, so that one bad rule fails alone
and every failure is reported against its rule, as before batching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from costpipe.alerts.periods import Period, period_at
from costpipe.alerts.rules import MISSING_GROUP
from costpipe.config.settings import BudgetConfig
from costpipe.errors import CostpipeError
from costpipe.query.api import Basis, CostQuery, CostReader, SpendRequest
from costpipe.query.grouped import spend

__all__ = ["RuleSpend", "budget_request", "group_spends", "rule_spends"]

_PENDING = RuntimeError("not asked yet")  # replaced by the answer before returning


def budget_request(rule: BudgetConfig, period: Period) -> SpendRequest:
    """The rule's question: its basis and filters over its period, per group."""
    query = CostQuery(
        period.start,
        period.end,
        Basis(rule.cost_basis),
        {dim: tuple(values) for dim, values in rule.filters.items()},
    )
    return SpendRequest(query, rule.group_by)


def group_spends(rule: BudgetConfig, answer: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Spend per alerting group: one ``""`` group for an ungrouped rule; for a
    grouped one, records without the dimension are left out unless the rule
    includes them as :data:`~costpipe.alerts.rules.MISSING_GROUP`."""
    if rule.group_by is None:
        return {"": answer.get("", Decimal(0))}
    spends: dict[str, Decimal] = {}
    for group, cost in answer.items():
        if group == "":
            # Records without the dimension (Anthropic rows have no user) belong
            # to nobody: an alert about them would name no one, unless asked for.
            if not rule.include_missing:
                continue
            group = MISSING_GROUP
        spends[group] = spends.get(group, Decimal(0)) + cost
    return spends


#: A rule, its current period (None if that could not be worked out), and its
#: spend per group or the error that prevented it.
RuleSpend = tuple[BudgetConfig, Period | None, dict[str, Decimal] | Exception]


async def rule_spends(
    reader: CostReader, rules: Sequence[BudgetConfig], now: datetime, timezone: str
) -> list[RuleSpend]:
    """Each rule's :func:`group_spends` in its period containing *now*, in order."""
    outcomes: list[RuleSpend] = []
    asked: list[tuple[int, SpendRequest]] = []
    periods: dict[tuple[str, str], Period] = {}  # rules share a handful of periods
    for rule in rules:
        try:
            shape = (rule.period, rule.week_start)
            if shape not in periods:
                periods[shape] = period_at(rule.period, now, timezone, rule.week_start)
            request = budget_request(rule, periods[shape])
        except Exception as exc:
            outcomes.append((rule, None, exc))
            continue
        asked.append((len(outcomes), request))
        outcomes.append((rule, periods[shape], _PENDING))
    requests = [request for _, request in asked]
    try:
        answers: Sequence[dict[str, Decimal] | Exception] = await spend(reader, requests)
        if len(answers) != len(requests):
            raise CostpipeError(f"the reader answered {len(answers)} of {len(requests)} requests")
    except Exception:
        answers = [await _alone(reader, request) for request in requests]
    for (index, _), answer in zip(asked, answers, strict=True):
        rule, period, _ = outcomes[index]
        spends = answer if isinstance(answer, Exception) else group_spends(rule, answer)
        outcomes[index] = (rule, period, spends)
    return outcomes


async def _alone(reader: CostReader, request: SpendRequest) -> dict[str, Decimal] | Exception:
    try:
        (answer,) = await spend(reader, [request])
    except Exception as exc:
        return exc
    return answer
