"""Expected spend and its band from a trailing history, by robust statistics. No IO.

A bucket's *expected* spend is the median of the same measure over the
baseline buckets, and the band's half-width is ``sensitivity`` robust standard
deviations: ``1.4826 * MAD`` (the median absolute deviation, scaled so that it
equals the standard deviation of normal data), never less than
:data:`MIN_RELATIVE_SPREAD` of the expected value. Medians ignore a past spike
or a quiet holiday in the history, where a mean and a standard deviation would
be dragged by it and hide the next one.

Daily rules correct for the weekday: each baseline day is divided by its
weekday's *factor* (that weekday's mean over the baseline, relative to the mean
of all baseline days, taken from the rule's total rather than the group's so
that a small group's noise does not make the season), and the result is
multiplied by the judged day's factor. A quiet Sunday then neither lowers
Monday's expectation nor makes Monday look like a spike.

A bucket is anomalous when its spend is above the band *and* exceeds the
expected value by at least ``min_increase_usd``: a noisy group spending cents
never fires. A group without any spend in the baseline is *new*: it fires when
one bucket reaches the rule's floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "MAD_TO_SIGMA",
    "MIN_RELATIVE_SPREAD",
    "Band",
    "Judgement",
    "band",
    "judge",
    "median",
    "weekday_factors",
]

MAD_TO_SIGMA = Decimal("1.4826")
#: The band is never narrower than this share of the expected value per unit of
#: sensitivity: a very regular group must still change by a visible fraction.
MIN_RELATIVE_SPREAD = Decimal("0.1")
_ONE = Decimal(1)


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    if not ordered:
        return Decimal(0)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True, slots=True)
class Band:
    """What a bucket was expected to cost, and the range that is not surprising."""

    expected: Decimal
    low: Decimal
    high: Decimal
    history: int
    """Baseline buckets that had any spend; 0 means a new group."""

    @property
    def new(self) -> bool:
        return self.history == 0


def band(
    history: Sequence[Decimal],
    sensitivity: Decimal,
    *,
    factors: Sequence[Decimal] | None = None,
    target_factor: Decimal = _ONE,
) -> Band:
    """The band of a bucket from its *history* (the same measure in each baseline
    bucket); with *factors* (one per history value) the history is seasonally
    adjusted and the band re-scaled by *target_factor*."""
    if factors is None:
        adjusted = list(history)
    else:
        adjusted = [v / f if f > 0 else v for v, f in zip(history, factors, strict=True)]
    center = median(adjusted)
    spread = max(
        MAD_TO_SIGMA * median([abs(v - center) for v in adjusted]), MIN_RELATIVE_SPREAD * center
    )
    expected = center * target_factor
    width = sensitivity * spread * target_factor
    return Band(
        expected=expected,
        low=max(Decimal(0), expected - width),
        high=expected + width,
        history=sum(1 for v in history if v > 0),
    )


def weekday_factors(totals: Mapping[int, Sequence[Decimal]]) -> dict[int, Decimal]:
    """Weekday (0 = Monday) -> its mean over the overall mean, from the rule's
    total per baseline day grouped by weekday. A weekday without data, or a
    history without spend, gets 1; factors are kept within [0.05, 20] so one odd
    day cannot divide by almost nothing."""
    values = [v for day in totals.values() for v in day]
    overall = sum(values, Decimal(0)) / len(values) if values else Decimal(0)
    factors: dict[int, Decimal] = {}
    for weekday in range(7):
        day = totals.get(weekday, ())
        if overall <= 0 or not day:
            factors[weekday] = _ONE
            continue
        mean = sum(day, Decimal(0)) / len(day)
        factors[weekday] = min(max(mean / overall, Decimal("0.05")), Decimal(20))
    return factors


@dataclass(frozen=True, slots=True)
class Judgement:
    """One group's bucket against its band."""

    observed: Decimal
    band: Band
    anomalous: bool

    @property
    def increase(self) -> Decimal:
        return self.observed - self.band.expected

    @property
    def ratio(self) -> Decimal | None:
        """Observed over expected, ``None`` for a group with nothing expected."""
        if self.band.expected <= 0:
            return None
        return self.observed / self.band.expected


def judge(
    observed: Decimal, bucket_band: Band, min_increase_usd: Decimal, floor_usd: Decimal
) -> Judgement:
    """Whether *observed* is a spike against *bucket_band* (see module docs)."""
    if observed <= 0:
        return Judgement(observed, bucket_band, False)
    if bucket_band.new:
        return Judgement(observed, bucket_band, observed >= floor_usd)
    increase = observed - bucket_band.expected
    anomalous = observed > bucket_band.high and increase >= min_increase_usd
    return Judgement(observed, bucket_band, anomalous)
