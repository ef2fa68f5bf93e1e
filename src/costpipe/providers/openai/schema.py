"""msgspec Structs that mirror OpenAI's organization Usage and Costs API pages.

Source: OpenAI's OpenAPI spec, ``openapi.yaml`` in github.com/openai/openai-openapi
(read at commit f85dbe2, 2026-08-21), ``components/schemas``:

=======================  =====================================================
Struct                   spec schema
=======================  =====================================================
:class:`Page`            ``UsageResponse`` (``object: page``, ``data``,
                         ``has_more``, ``next_page``): the answer of
                         ``GET /organization/costs`` and of every
                         ``GET /organization/usage/*``
:class:`Bucket`          ``UsageTimeBucket`` (``start_time``, ``end_time``:
                         integer Unix seconds, ``results``)
:class:`CostRow`         ``CostsResult`` (``amount: {value: number, currency}``)
:class:`CompletionsRow`  ``UsageCompletionsResult``
:class:`EmbeddingsRow`   ``UsageEmbeddingsResult``
:class:`ModerationsRow`  ``UsageModerationsResult``
:class:`ImagesRow`       ``UsageImagesResult``
:class:`SpeechesRow`     ``UsageAudioSpeechesResult``
:class:`TranscriptionsRow` ``UsageAudioTranscriptionsResult``
:class:`VectorStoresRow` ``UsageVectorStoresResult``
:class:`SessionsRow`     ``UsageCodeInterpreterSessionsResult``
:class:`FileSearchesRow` ``UsageFileSearchCallsResult``
:class:`WebSearchesRow`  ``UsageWebSearchCallsResult``
=======================  =====================================================

Per-field decisions, against the spec:

* Counts are ``type: integer``: a JSON integer from 0 to 2**63-1 (what a store
  holds); ``5.0``, ``"5"`` or ``true`` reject the page. The spec's required
  counts (``input_tokens``, ``output_tokens``, ``num_model_requests``,
  ``images``, ``characters``, ``seconds``, ``usage_bytes``, ``num_sessions``,
  ``num_requests``) are required; the optional counts (cache counts, the
  completions' text/audio/image splits) may also be ``null`` (older servers
  sent nulls), read as absent.
* ``amount.value`` is ``type: number``: decoded straight from the JSON text to
  :class:`~decimal.Decimal` (``0.10`` stays ``0.10``; a decimal string is
  accepted too, exactly); NaN, infinities and amounts past 10**9 USD reject
  the page. ``currency`` must be ``usd`` (any case).
* Dimensions (``project_id``, ``user_id``, ``api_key_id``, ``model``,
  ``line_item``, ``service_tier``, ``size``, ``source``, ``context_level``,
  ``vector_store_id``) are ``string | null``; ``batch`` is
  ``boolean | null``. A number where a string belongs rejects the page.
* ``has_more`` is required (without it a page could silently end the walk);
  ``next_page`` is ``string | null``; ``results: null`` is an empty bucket.
* Bucket times are integers within years 1..9999 (anything else rejects the
  page). Fields costpipe does not read (``object``, ``quantity``,
  ``input_text_tokens``...) are skipped without being materialized.

Adding an endpoint: a row Struct here mirroring its ``Usage*Result``, and an
entry in :data:`~costpipe.providers.openai.decode.ENDPOINTS`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Generic, TypeVar

import msgspec

from costpipe.providers.typed_json import Count, FieldError, check_amount

__all__ = [
    "Amount",
    "Bucket",
    "CompletionsRow",
    "CostRow",
    "EmbeddingsRow",
    "FileSearchesRow",
    "ImagesRow",
    "ModerationsRow",
    "Page",
    "SessionsRow",
    "SpeechesRow",
    "TranscriptionsRow",
    "UnixSeconds",
    "VectorStoresRow",
    "WebSearchesRow",
]

#: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: what a datetime can hold.
_FIRST_SECOND = -62_135_596_800
_LAST_SECOND = 253_402_300_799
UnixSeconds = Annotated[int, msgspec.Meta(ge=_FIRST_SECOND, le=_LAST_SECOND)]

RowT = TypeVar("RowT")


class Bucket(msgspec.Struct, Generic[RowT], kw_only=True, gc=False):
    """``UsageTimeBucket``."""

    start_time: UnixSeconds
    end_time: UnixSeconds
    results: list[RowT] | None = None


class Page(msgspec.Struct, Generic[RowT], kw_only=True, gc=False):
    """``UsageResponse``."""

    data: list[Bucket[RowT]]
    has_more: bool
    next_page: str | None = None


class Amount(msgspec.Struct, kw_only=True, gc=False):
    """``CostsResult.amount``."""

    value: Decimal | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.value is not None:
            check_amount(self.value, "value")
        if self.currency is not None and self.currency.lower() != "usd":
            raise FieldError(
                "currency", f"amount in {self.currency[:20]!r}; costpipe records USD only"
            )


class CostRow(msgspec.Struct, kw_only=True, gc=False):
    """``CostsResult``."""

    amount: Amount | None = None
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None


class CompletionsRow(msgspec.Struct, kw_only=True, gc=False):
    """``UsageCompletionsResult``: the token totals and their audio and image
    splits. The text splits (``input_text_tokens``...) are not read: text is
    what the totals leave once audio and image are taken out."""

    input_tokens: Count
    output_tokens: Count
    num_model_requests: Count
    input_cached_tokens: Count | None = None
    input_cache_write_tokens: Count | None = None
    input_uncached_tokens: Count | None = None
    input_audio_tokens: Count | None = None
    """Uncached audio input (spec: "uncached audio input tokens")."""
    input_cached_audio_tokens: Count | None = None
    output_audio_tokens: Count | None = None
    input_image_tokens: Count | None = None
    """Uncached image input (spec: "uncached image input tokens")."""
    input_cached_image_tokens: Count | None = None
    output_image_tokens: Count | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None


class EmbeddingsRow(msgspec.Struct, kw_only=True, gc=False):
    """``UsageEmbeddingsResult``."""

    input_tokens: Count
    num_model_requests: Count
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


class _Grouped(msgspec.Struct, kw_only=True, gc=False):
    """The ``group_by`` dimensions most usage results share."""

    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


class ModerationsRow(_Grouped, kw_only=True, gc=False):
    """``UsageModerationsResult``."""

    input_tokens: Count
    num_model_requests: Count


class ImagesRow(_Grouped, kw_only=True, gc=False):
    """``UsageImagesResult``: ``size`` (``1024x1024``...) and ``source``
    (``image.generation``, ``image.edit``, ``image.variation``) when grouped so."""

    images: Count
    num_model_requests: Count
    size: str | None = None
    source: str | None = None


class SpeechesRow(_Grouped, kw_only=True, gc=False):
    """``UsageAudioSpeechesResult``."""

    characters: Count
    num_model_requests: Count


class TranscriptionsRow(_Grouped, kw_only=True, gc=False):
    """``UsageAudioTranscriptionsResult`` (``seconds``: integer, int64)."""

    seconds: Count
    num_model_requests: Count


class VectorStoresRow(msgspec.Struct, kw_only=True, gc=False):
    """``UsageVectorStoresResult``: bytes held (a gauge), by project only."""

    usage_bytes: Count
    project_id: str | None = None


class SessionsRow(msgspec.Struct, kw_only=True, gc=False):
    """``UsageCodeInterpreterSessionsResult``, by project only."""

    num_sessions: Count
    project_id: str | None = None


class FileSearchesRow(msgspec.Struct, kw_only=True, gc=False):
    """``UsageFileSearchCallsResult`` (``object: organization.usage.file_searches.result``)."""

    num_requests: Count
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    vector_store_id: str | None = None


class WebSearchesRow(_Grouped, kw_only=True, gc=False):
    """``UsageWebSearchCallsResult`` (``object: organization.usage.web_searches.result``):
    ``num_requests`` web-search calls made by ``num_model_requests`` model requests."""

    num_model_requests: Count
    num_requests: Count
    context_level: str | None = None
