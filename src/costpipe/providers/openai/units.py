"""Records of OpenAI's usage endpoints that are not chat tokens: moderations,
images, audio speeches and transcriptions, vector stores, code-interpreter
sessions, file-search and web-search calls (one function per endpoint; pure).

Each counts in its own unit, in the :data:`~costpipe.records.UNIT_FIELDS` of the
record, never in a token field or ``requests`` of another meaning:

===========================  ===============================================
endpoint                     record
===========================  ===============================================
``moderations``              ``uncached_input_tokens``, ``requests``; priced
                             like embeddings (input tokens)
``images``                   ``images``, ``requests``; size and source in the
                             line item (``images, 1024x1024, image.generation``)
``audio_speeches``           ``speech_characters``, ``requests``
``audio_transcriptions``     ``transcription_seconds``, ``requests``
``vector_stores``            ``vector_store_byte_days`` (daily buckets only)
``code_interpreter_sessions`` ``code_interpreter_sessions``
``file_search_calls``        ``file_search_calls``
``web_search_calls``         ``web_search_calls``; the context level in the
                             line item (``web_search_calls, medium``)
===========================  ===============================================

Web search's ``num_model_requests`` is not stored: those model requests are
already counted by the completions endpoint, and ``requests`` must stay
disjoint. A unit row is priced by its model's rate where the price data has a
price for its unit (speech characters, transcription seconds, web-search and
file-search calls: :mod:`costpipe.pricing.categories`); images, byte-days and
sessions have none there, so those rows are ``unpriced`` (0, never read as
free); their money is on the billed basis (the Costs API's line items).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from costpipe.pricing.categories import CATEGORIES
from costpipe.pricing.prices import UsageRate
from costpipe.providers.bucketed import At, RowError
from costpipe.providers.openai.schema import (
    EmbeddingsRow,
    FileSearchesRow,
    ImagesRow,
    ModerationsRow,
    SessionsRow,
    SpeechesRow,
    TranscriptionsRow,
    VectorStoresRow,
    WebSearchesRow,
)
from costpipe.providers.planning import priced_by
from costpipe.records import UNIT_FIELDS, CostRecord, CostSource, PriceSource

__all__ = [
    "file_search_record",
    "image_record",
    "moderation_record",
    "priced",
    "session_record",
    "speech_record",
    "transcription_record",
    "vector_store_record",
    "web_search_record",
]

_ZERO = Decimal(0)
_DAY = timedelta(days=1)
#: Units the price data has no price for (per image by size, per GB-day, per
#: session): a record with any of them stays unpriced.
_NEVER_PRICED = ("images", "vector_store_byte_days", "code_interpreter_sessions")
_UNPRICED = (_ZERO, CostSource.UNPRICED, PriceSource(""))
#: Where a rate keeps the weight of each unit it can price (not the never-priced ones).
_WEIGHT_INDEX = {name: CATEGORIES.index(name) for name in UNIT_FIELDS if name in CATEGORIES}
if set(UNIT_FIELDS) - set(_WEIGHT_INDEX) != set(_NEVER_PRICED):
    raise ImportError("the units without a price category are not the never-priced ones")


@lru_cache(maxsize=256)  # bounded: a server inventing sizes costs nothing
def _line_item(*parts: str) -> str:
    """``endpoint, qualifier, ...`` without empty qualifiers."""
    return ", ".join(part for part in parts if part)


def priced(
    counts: tuple[int, ...], model: str, rate: UsageRate | None, at: At
) -> tuple[Decimal, CostSource, PriceSource]:
    """``(cost, source, price source)`` of usage *counts* (in
    :data:`~costpipe.pricing.categories.CATEGORIES` order, a shorter tuple
    meaning zeros) of *model*: ``estimated`` when every non-zero counter has a
    price, else ``unpriced`` at 0, with the counter logged once per model (a
    model without any price is logged by the pricer).

    A tuple rather than counters by name: a completions row with audio tokens
    took 21 µs to build through name lookups, 6 µs this way (on this
    project's VM)."""
    if rate is None:
        return _UNPRICED
    cost = rate.cost_vector(counts)
    if cost is None:
        at.pricer.counter_unpriced(model, rate.missing_vector(counts) or "")
        return _UNPRICED
    return cost, CostSource.ESTIMATED, PriceSource(rate.source)


def _unit_record(
    at: At,
    line_item: str,
    counter: str,
    count: int,
    requests: int = 0,
    *,
    model: str | None = None,
    project_id: str | None = None,
    user_id: str | None = None,
    api_key_id: str | None = None,
) -> CostRecord:
    """The record of one unit row (*count* of the unit *counter*), priced by its
    model's rate where the price data prices that unit. A row without a model
    has nothing to be priced by; a unit no rate prices (images, byte-days,
    sessions) keeps the record unpriced: both logged once."""
    model = model or ""
    rate = at.rate(model) if model else None
    unit_cost = None if rate is None else rate.unit_cost(_WEIGHT_INDEX.get(counter), count)
    if rate is not None and unit_cost is not None:
        cost, source, price_source = unit_cost, CostSource.ESTIMATED, PriceSource(rate.source)
    else:
        # A model without any price was logged by the pricer; a row without a
        # model, or a unit its model's rate does not price, is logged here.
        if count and (rate is not None or not model):
            at.pricer.counter_unpriced(model, counter)
        cost, source, price_source = _UNPRICED
    units: dict[str, Any] = {counter: count}  # the unit's field, for **
    return CostRecord(
        start=at.start,
        width=at.width,
        provider="openai",
        account=at.account,
        cost_source=source,
        cost_usd=cost,
        model=model,
        user_id=user_id or "",
        project_id=project_id or "",
        api_key_id=api_key_id or "",
        line_item=line_item,
        requests=requests,
        price_source=price_source,
        **units,
    )


def input_only_record(row: ModerationsRow | EmbeddingsRow, at: At, line_item: str) -> CostRecord:
    """Moderations and embeddings: uncached input tokens only, priced at the
    model's input rate when it has one."""
    model = row.model or ""
    rate = at.rate(model)
    cost = None if rate is None else rate.cost(row.input_tokens)
    cost, source, price_source = priced_by(rate, cost)
    return at.record(
        "openai",
        source,
        cost,
        price_source,
        (model, row.user_id or "", row.project_id or "", row.api_key_id or "", line_item),
        (row.input_tokens, 0, 0, 0, 0, row.num_model_requests),
    )


def moderation_record(row: ModerationsRow, at: At) -> CostRecord:
    return input_only_record(row, at, "moderations")


def image_record(row: ImagesRow, at: At) -> CostRecord:
    return _unit_record(
        at,
        _line_item("images", row.size or "", row.source or ""),
        "images",
        row.images,
        row.num_model_requests,
        model=row.model,
        project_id=row.project_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
    )


def speech_record(row: SpeechesRow, at: At) -> CostRecord:
    return _unit_record(
        at,
        "audio_speeches",
        "speech_characters",
        row.characters,
        row.num_model_requests,
        model=row.model,
        project_id=row.project_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
    )


def transcription_record(row: TranscriptionsRow, at: At) -> CostRecord:
    return _unit_record(
        at,
        "audio_transcriptions",
        "transcription_seconds",
        row.seconds,
        row.num_model_requests,
        model=row.model,
        project_id=row.project_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
    )


def vector_store_record(row: VectorStoresRow, at: At) -> CostRecord:
    """Bytes held are a gauge: a daily bucket's ``usage_bytes`` is stored as that
    many byte-days, so sums over days mean something (see :mod:`costpipe.records`)."""
    if at.width != _DAY:
        # The planner asks for 1d; another width could not be turned into whole
        # byte-days without guessing.
        raise RowError("usage_bytes", f"vector-store usage in a {at.width} bucket, not 1d")
    return _unit_record(
        at,
        "vector_stores",
        "vector_store_byte_days",
        row.usage_bytes,
        project_id=row.project_id,
    )


def session_record(row: SessionsRow, at: At) -> CostRecord:
    return _unit_record(
        at,
        "code_interpreter_sessions",
        "code_interpreter_sessions",
        row.num_sessions,
        project_id=row.project_id,
    )


def file_search_record(row: FileSearchesRow, at: At) -> CostRecord:
    """File search has no model: its calls are priced per call by nothing here
    (the price data prices calls per model), so the row is unpriced."""
    return _unit_record(
        at,
        "file_search_calls",
        "file_search_calls",
        row.num_requests,
        project_id=row.project_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
    )


def web_search_record(row: WebSearchesRow, at: At) -> CostRecord:
    return _unit_record(
        at,
        _line_item("web_search_calls", row.context_level or ""),
        "web_search_calls",
        row.num_requests,
        model=row.model,
        project_id=row.project_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
    )
