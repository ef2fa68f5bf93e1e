"""The normalized cost record every provider produces, and its identity key.

No IO lives here. A record describes one provider row for one time bucket:
who spent (account, project, user, API key), on what (model, line item),
how much (token counts by category, cost in USD) and how sure we are of the
money (`cost_source`).

Token categories are **disjoint** so that they can be summed and priced
without double counting (the most common bug in this field):

=========================  ==================================================
field                      meaning
=========================  ==================================================
``uncached_input_tokens``  input tokens that were neither read from nor
                           written to a prompt cache
``cached_input_tokens``    input tokens read from a prompt cache
``cache_write_tokens``     input tokens written to a prompt cache (OpenAI's
                           writes, Anthropic's 5-minute writes)
``cache_write_1h_tokens``  Anthropic's 1-hour cache writes: apart, because
                           they cost more and a reprice must tell them apart
``output_tokens``          output tokens (reasoning tokens included)
``requests``               number of model requests
=========================  ==================================================

These text categories hold every token no modality field claims: text, and
the images or audio of providers that bill them as text. Audio and image tokens
a provider reports apart (OpenAI's completions) have prices of their own and
fields of their own, as disjoint: ``uncached_audio_input_tokens``,
``cached_audio_input_tokens``, ``audio_output_tokens``,
``uncached_image_input_tokens``, ``cached_image_input_tokens``,
``image_output_tokens``. Cache writes are not split by modality (no provider
reports them so). Total input is the sum of the eight input fields
(:attr:`CostRecord.input_tokens`), total output of the three output fields
(:attr:`CostRecord.all_output_tokens`). OpenAI's ``input_tokens`` *includes*
cached and cache-write tokens of every modality, so the OpenAI provider
subtracts them; Anthropic's ``uncached_input_tokens`` already excludes them.

Usage that is not tokens counts in its own unit (:data:`UNIT_FIELDS`), never in
a token field or ``requests``: ``images`` (size and source in ``line_item``),
``speech_characters``, ``transcription_seconds``, ``vector_store_byte_days``,
``code_interpreter_sessions``, ``file_search_calls`` and ``web_search_calls``
(OpenAI's web search, Anthropic's ``web_search_requests``). Every counter sums
over time and groups. Vector-store size is a *gauge* (bytes held at a moment),
whose sum over buckets means nothing, so it is stored as its time integral: a
daily bucket holding ``b`` bytes contributes ``b`` byte-days; a month's sum is
byte-days (storage is billed per GB-day), divided by its days the average size.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NewType

import msgspec

__all__ = [
    "DIMENSIONS",
    "HOT_FIELD_ORDER",
    "KEY_FIELDS",
    "RECORD_FIELDS",
    "TEXT_DIMENSIONS",
    "TOKEN_FIELDS",
    "UNIT_FIELDS",
    "CostRecord",
    "CostSource",
    "PriceSource",
    "Window",
    "basis_of",
    "utc",
]


class CostSource(StrEnum):
    """Where a record's money figure comes from."""

    BILLED = "billed"
    """Reported by the provider's billing/cost API: the figure on the invoice."""
    ESTIMATED = "estimated"
    """Computed by costpipe from token usage and the price table."""
    UNPRICED = "unpriced"
    """Usage of a model that has no price: tokens are real, ``cost_usd`` is 0 and
    must not be read as free."""
    ALLOCATED = "allocated"
    """Billed money split over the usage rows of its billed cell in proportion to
    their estimated cost (:mod:`costpipe.allocation`); the cell's money with no
    matching usage is one row with ``user_id`` ``unattributed``. A basis of its
    own: allocated rows never replace billed or estimated ones."""


_BASES = {CostSource.BILLED: "billed", CostSource.ALLOCATED: "allocated"}


def basis_of(source: CostSource) -> str:
    """The money basis of a cost source: ``billed``, ``allocated`` or ``estimated``
    (``estimated`` and ``unpriced`` rows are one basis)."""
    return _BASES.get(source, "estimated")


#: An estimate's price data (``genai-prices 0.2.3``, ``override:<name>``), for audit; not
#: a ``str`` field type, so neither a dimension nor part of the key (a reprice replaces).
PriceSource = NewType("PriceSource", str)


#: Counters of usage that is not tokens, each in its own unit (see the module
#: docstring); the tail of :data:`TOKEN_FIELDS`, which every store, codec and
#: encoder iterates, so a unit is stored wherever a token count is.
UNIT_FIELDS: tuple[str, ...] = (
    "images",
    "speech_characters",
    "transcription_seconds",
    "vector_store_byte_days",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
)

#: Integer counters of a record (tokens by disjoint category, requests, then the
#: units), in canonical order: the record's field order.
TOKEN_FIELDS: tuple[str, ...] = (
    "uncached_input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "requests",
    "uncached_audio_input_tokens",
    "cached_audio_input_tokens",
    "audio_output_tokens",
    "uncached_image_input_tokens",
    "cached_image_input_tokens",
    "image_output_tokens",
    *UNIT_FIELDS,
)


def utc(value: datetime) -> datetime:
    """Return *value* as an aware UTC datetime; naive values are rejected."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (costpipe keeps time in UTC)")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end < self.start:
            raise ValueError(f"window ends before it starts: {self.start} > {self.end}")

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def split(self, step: timedelta) -> list[Window]:
        """Cut the window into consecutive pieces of at most *step*."""
        pieces: list[Window] = []
        cursor = self.start
        while cursor < self.end:
            upper = min(cursor + step, self.end)
            pieces.append(Window(cursor, upper))
            cursor = upper
        return pieces


class CostRecord(msgspec.Struct, frozen=True, gc=False):
    """One provider row for one time bucket, normalized.

    ``provider`` is the provider kind (``openai``); ``account`` names the
    instance the row came from (an organisation, a proxy): the pair tells two
    organisations of one provider apart. Empty strings mean "not grouped by
    this dimension" and are omitted from store tags.

    ``line_item`` says *what* was bought and must separate every row of one
    bucket that the other dimensions do not (OpenAI's cost line items, or an
    endpoint and service tier for usage rows), because it is part of the key.

    ``tags`` holds extra labels added by enrichers (team, cost centre). They are
    deliberately **not** part of :attr:`key`: changing an enrichment mapping
    re-labels a record, it never makes a second copy of its money.

    Immutable and built by keyword (positional works too, in field order);
    :meth:`replace` copies with changes, validated like a new record. A frozen
    ``msgspec.Struct`` with ``gc=False`` rather than a dataclass: a backfill
    builds millions, and the cyclic garbage collector neither tracks nor scans
    them (their fields are dates, decimals, strings, ints and tuples of strings,
    which cannot form a cycle), which makes construction about five times
    cheaper (``docs/performance.md``).
    """

    start: datetime
    width: timedelta
    provider: str
    account: str
    cost_source: CostSource
    cost_usd: Decimal = Decimal(0)
    model: str = ""
    user_id: str = ""
    project_id: str = ""
    api_key_id: str = ""
    line_item: str = ""
    uncached_input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    uncached_audio_input_tokens: int = 0
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    uncached_image_input_tokens: int = 0
    cached_image_input_tokens: int = 0
    image_output_tokens: int = 0
    images: int = 0
    speech_characters: int = 0
    transcription_seconds: int = 0
    vector_store_byte_days: int = 0
    code_interpreter_sessions: int = 0
    file_search_calls: int = 0
    web_search_calls: int = 0
    tags: tuple[tuple[str, str], ...] = ()
    price_source: PriceSource = PriceSource("")  # "" unless estimated (:data:`PriceSource`)

    def __post_init__(self) -> None:
        # Runs once per usage row (millions in a backfill): the common case (a
        # start already in ``datetime.UTC``, a Decimal, a CostSource, no tags) is
        # one test; anything else gets the full checks and conversions.
        if (
            self.start.tzinfo is not UTC
            or type(self.cost_usd) is not Decimal
            or type(self.cost_source) is not CostSource
            or self.tags
            or type(self.tags) is not tuple
        ):
            self._normalize()

    def _normalize(self) -> None:
        # msgspec's frozen __setattr__ refuses every write, object.__setattr__ too;
        # the fields' slot descriptors are the way to finish construction.
        if self.start.tzinfo is not UTC:
            _SETTERS["start"](self, utc(self.start))
        if not isinstance(self.cost_usd, Decimal):
            # A float here would already have lost cents; refuse rather than guess.
            raise TypeError(f"cost_usd must be Decimal, got {type(self.cost_usd).__name__}")
        if type(self.cost_source) is not CostSource:
            _SETTERS["cost_source"](self, CostSource(self.cost_source))
        # Sorted, one value per name, and always a tuple (never a list that could
        # hold a reference back to the record: the GC does not look here).
        tags = tuple(sorted(dict(self.tags).items()))
        if not all(type(k) is str and type(v) is str for k, v in tags):
            raise TypeError(f"tags must be (str, str) pairs, got {tags!r}")
        _SETTERS["tags"](self, tags)

    def replace(self, **changes: object) -> CostRecord:
        """A copy with *changes* applied, checked like a new record
        (``dataclasses.replace`` for this type)."""
        return msgspec.structs.replace(self, **changes)

    @property
    def end(self) -> datetime:
        return self.start + self.width

    @property
    def input_tokens(self) -> int:
        """All input tokens: uncached + cache reads + cache writes, every modality."""
        return (
            self.uncached_input_tokens
            + self.cached_input_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
            + self.uncached_audio_input_tokens
            + self.cached_audio_input_tokens
            + self.uncached_image_input_tokens
            + self.cached_image_input_tokens
        )

    @property
    def all_output_tokens(self) -> int:
        """All output tokens: text, audio and image."""
        return self.output_tokens + self.audio_output_tokens + self.image_output_tokens

    @property
    def is_billed(self) -> bool:
        return self.cost_source is CostSource.BILLED

    @property
    def basis(self) -> str:
        """``billed`` for provider-billed money, ``allocated`` for billed money split
        over usage, ``estimated`` for usage-derived rows.

        Unpriced rows belong to the estimated basis: they are usage whose price is
        unknown, and the bases are never summed together.
        """
        return basis_of(self.cost_source)

    @property
    def tag_map(self) -> Mapping[str, str]:
        return dict(self.tags)

    def dimension(self, name: str) -> str:
        """The value of a dimension or enricher tag, ``""`` when unset."""
        if name == "cost_source":
            return self.cost_source.value
        if name in TEXT_DIMENSIONS:
            value: str = getattr(self, name)
            return value
        return self.tag_map.get(name, "")

    def with_tags(self, extra: Mapping[str, str]) -> CostRecord:
        """A copy with *extra* enricher tags merged in (later values win)."""
        merged = {**self.tag_map, **{k: v for k, v in extra.items() if v != ""}}
        return self.replace(tags=tuple(merged.items()))

    @property
    def key(self) -> str:
        """Deterministic identity of this row.

        Fetching the same provider bucket twice yields the same key, so a store
        can upsert by it; two rows of one bucket differ in at least one
        dimension (line item included) and so never share a key. The money basis
        (billed, allocated or usage) is part of the key, ``unpriced`` vs
        ``estimated`` is not, so a re-priced row replaces its unpriced predecessor
        and an allocated row never replaces the usage row it was split onto.
        """
        # The order of KEY_FIELDS: the source, the basis, the bucket, the other dimensions.
        parts = (
            self.provider,
            self.account,
            self.basis,
            self.start.isoformat(),
            str(int(self.width.total_seconds())),
            *_key_dimensions(self),
        )
        # \x1f (unit separator) cannot appear in provider IDs, so joining is unambiguous.
        digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16)
        return digest.hexdigest()


#: Every field of :class:`CostRecord`, in order (what ``dataclasses.fields`` gave).
RECORD_FIELDS: tuple[str, ...] = CostRecord.__struct_fields__

#: The record's text dimensions (who spent on what), derived from the record type:
#: every ``str`` field, in field order. Stores keep each as a tag or column, the
#: query layer groups and filters by each, and each is part of :attr:`CostRecord.key`;
#: all of them read this tuple, so a new dimension is added here by adding a field.
TEXT_DIMENSIONS: tuple[str, ...] = tuple(
    f.name for f in msgspec.structs.fields(CostRecord) if f.type is str
)

#: The first fields of :class:`CostRecord`, in order. The decoders' hot paths
#: build records positionally (17 keyword arguments made construction three
#: times as slow, 2.7 µs against 0.9), so this order is a contract: moving a
#: field here fails at import, not as a silently shifted count.
HOT_FIELD_ORDER: tuple[str, ...] = (
    "start", "width", "provider", "account", "cost_source", "cost_usd",
    "model", "user_id", "project_id", "api_key_id", "line_item",
    "uncached_input_tokens", "cached_input_tokens", "cache_write_tokens",
    "cache_write_1h_tokens", "output_tokens", "requests",
    "uncached_audio_input_tokens", "cached_audio_input_tokens", "audio_output_tokens",
    "uncached_image_input_tokens", "cached_image_input_tokens", "image_output_tokens",
)  # fmt: skip
if CostRecord.__struct_fields__[: len(HOT_FIELD_ORDER)] != HOT_FIELD_ORDER:
    raise ImportError("CostRecord's leading fields no longer match HOT_FIELD_ORDER")

# Slot setters that finish construction in CostRecord._normalize (see there).
_SETTERS: dict[str, Callable[[CostRecord, object], None]] = {
    name: vars(CostRecord)[name].__set__ for name in ("start", "cost_source", "tags")
}

#: The dimensions that are tags in every store: the text dimensions and the money basis.
DIMENSIONS: tuple[str, ...] = (*TEXT_DIMENSIONS, "cost_source")

#: What :attr:`CostRecord.key` hashes, in order: provider and account (the source),
#: the basis, the bucket start and width, then the other text dimensions. Stored
#: rows are identified by this order: changing it re-keys every record.
KEY_FIELDS: tuple[str, ...] = (
    *TEXT_DIMENSIONS[:2],
    "basis",
    "start",
    "width",
    *TEXT_DIMENSIONS[2:],
)

_key_dimensions = operator.attrgetter(*TEXT_DIMENSIONS[2:])
