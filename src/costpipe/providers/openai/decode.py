"""Pure decoding of OpenAI Costs and Usage pages: bytes in, records out.

:func:`decode` reads one page of an :class:`~costpipe.providers.bucketed.Endpoint` into
:mod:`~costpipe.providers.openai.schema` Structs (msgspec, exact Decimal money,
strict integer counts) and turns each row of each bucket inside the requested
span into a :class:`~costpipe.records.CostRecord`; a page that does not match
the spec raises :class:`~costpipe.providers.typed_json.PageMalformed` naming
the JSON path of the bad value (``$.data[0].results[3].input_tokens: ...``).
No IO: the price table and the account come in a :class:`~costpipe.providers.bucketed.Scope`.

Token mapping (the double-count trap): OpenAI's ``input_tokens`` *includes*
cached and cache-write tokens of every modality; ``input_uncached_tokens``,
``input_cached_tokens`` and ``output_tokens`` include the audio and image
tokens that ``input_audio_tokens``, ``input_cached_audio_tokens``,
``output_audio_tokens`` (and the three image fields) report apart. costpipe's
categories are disjoint, so each text category is the total minus its audio and
image parts: ``uncached_input_tokens`` = uncached (``input_uncached_tokens``, or
``input_tokens - input_cached_tokens - input_cache_write_tokens`` when absent)
minus uncached audio and image; ``cached_input_tokens`` = cached minus cached
audio and image; ``output_tokens`` = output minus audio and image output. A
split larger than its total sets the page aside (naming the field). A row with
audio or image tokens is priced counter by counter (:func:`.units.priced`):
``unpriced`` when the model has no audio or image rate, never the text rate.

The other usage endpoints (images, audio, vector stores, tools) are decoded
by :mod:`costpipe.providers.openai.units`.

Adding an endpoint: a row Struct in ``schema``, a ``<name>_record(row, at)``
function here, one :data:`ENDPOINTS` entry (path, ``group_by``, the decoder
of ``Page[<row Struct>]``, the function). The planner requests every entry,
and the golden cases in ``tests/providers/cases/openai/<endpoint>/`` pin it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec

from costpipe.providers.bucketed import At, Endpoint, RowError, Scope, decode_buckets
from costpipe.providers.openai import units
from costpipe.providers.openai.schema import (
    Bucket,
    CompletionsRow,
    CostRow,
    EmbeddingsRow,
    FileSearchesRow,
    ImagesRow,
    ModerationsRow,
    Page,
    SessionsRow,
    SpeechesRow,
    TranscriptionsRow,
    VectorStoresRow,
    WebSearchesRow,
)
from costpipe.providers.planning import DecodedPage, priced_by
from costpipe.providers.usage_rows import TextRows
from costpipe.records import CostRecord, CostSource, PriceSource

__all__ = ["COSTS", "DAILY_ENDPOINTS", "ENDPOINTS", "decode", "model_from_line_item"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_SOURCE = PriceSource("")  # billed money has no price source
_MODEL_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


def decode(endpoint: Endpoint[Any], scope: Scope, body: bytes) -> DecodedPage:
    """The records of one page of *endpoint* (merged by key) and its cursor;
    PageMalformed, with the JSON path, when the page does not match the spec."""
    return decode_buckets(endpoint, _bounds, "end_time", scope, body)


def _bounds(bucket: Bucket[Any]) -> tuple[datetime, datetime]:
    return (
        _EPOCH + timedelta(seconds=bucket.start_time),
        _EPOCH + timedelta(seconds=bucket.end_time),
    )


def model_from_line_item(line_item: str) -> str:
    """Best-effort model of a Costs line item, ``""`` when there is none.

    ``"gpt-4o-2024-08-06, input"`` and ``"evals | gpt-4o-mini-2024-07-18, input"``
    name a model; ``"assistants api | file search"`` does not.
    """
    tail = line_item.rsplit(" | ", 1)[-1]
    if ", " not in tail:
        return ""
    candidate = tail.rsplit(", ", 1)[0].strip()
    # A fine-tuned model's suffix is chosen by its owner and may hold any character
    # (even ", "), so only the "ft:" prefix is checked; base model names are tokens.
    if candidate.startswith("ft:") or _MODEL_TOKEN.match(candidate):
        return candidate
    return ""


def cost_record(row: CostRow, at: At) -> CostRecord | None:
    """A billed record; ``None`` when nothing was charged for the group."""
    amount = row.amount
    if amount is None or amount.value is None:
        return None
    line_item = row.line_item or ""
    return at.record(
        "openai",
        CostSource.BILLED,
        amount.value,
        _NO_SOURCE,
        (
            model_from_line_item(line_item),
            "",
            row.project_id or "",
            row.api_key_id or "",
            line_item,
        ),
    )


@lru_cache(maxsize=256)  # bounded: a server inventing tiers costs nothing
def usage_line_item(endpoint: str, batch: bool, service_tier: str) -> tuple[str, str]:
    """``(line_item, pricing tier)``: ``completions``, ``completions, batch``,
    ``completions, flex``... so rows of one bucket keep distinct keys."""
    parts = [endpoint]
    tier = ""
    if batch:
        parts.append("batch")
        tier = "batch"
    if service_tier and service_tier != "default":
        parts.append(service_tier)
        tier = tier or service_tier
    return ", ".join(parts), tier


def _text_part(total: int, total_field: str, audio: int, image: int, audio_field: str) -> int:
    """*total* less its audio and image parts; RowError when they exceed it."""
    text = total - audio - image
    if text < 0:
        raise RowError(
            audio_field, f"audio {audio} + image {image} tokens exceed {total_field} {total}"
        )
    return text


def completions_record(row: CompletionsRow, at: At) -> CostRecord:
    """An estimated (or unpriced) record of one completions usage row."""
    cached = row.input_cached_tokens or 0
    cache_write = row.input_cache_write_tokens or 0
    uncached = row.input_uncached_tokens
    if uncached is None:
        uncached = row.input_tokens - cached - cache_write
        if uncached < 0:
            raise RowError(
                "input_tokens",
                f"input_tokens {row.input_tokens} < cached {cached} + cache writes {cache_write}",
            )
    modalities = _NO_MODALITIES
    output = row.output_tokens
    if (
        row.input_audio_tokens
        or row.input_image_tokens
        or row.input_cached_audio_tokens
        or row.input_cached_image_tokens
        or row.output_audio_tokens
        or row.output_image_tokens
    ):
        uncached, cached, output, modalities = _without_modalities(row, uncached, cached)
    model = row.model or ""
    line_item, tier = usage_line_item("completions", row.batch is True, row.service_tier or "")
    rate = at.rate(model, tier)
    # OpenAI has no 1-hour cache writes.
    if modalities is _NO_MODALITIES:
        # Text only (most rows, the hot path): the text rate.
        cost = None if rate is None else rate.cost(uncached, cached, cache_write, 0, output)
        cost, source, price_source = priced_by(rate, cost)
    else:
        # Audio and image tokens have prices of their own (or none: then
        # unpriced, never the text rate), priced counter by counter.
        counts = (uncached, cached, cache_write, 0, output, *modalities)
        cost, source, price_source = units.priced(counts, model, rate, at)
    return at.record(
        "openai",
        source,
        cost,
        price_source,
        (model, row.user_id or "", row.project_id or "", row.api_key_id or "", line_item),
        (uncached, cached, cache_write, 0, output, row.num_model_requests),
        modalities,
    )


_NO_MODALITIES = (0, 0, 0, 0, 0, 0)
Modalities = tuple[int, int, int, int, int, int]


def _without_modalities(
    row: CompletionsRow, uncached: int, cached: int
) -> tuple[int, int, int, Modalities]:
    """A row with audio or image tokens: (uncached, cached, output) text tokens,
    each total less its audio and image parts, and the six modality counts."""
    audio_in = row.input_audio_tokens or 0
    image_in = row.input_image_tokens or 0
    audio_cached = row.input_cached_audio_tokens or 0
    image_cached = row.input_cached_image_tokens or 0
    audio_out = row.output_audio_tokens or 0
    image_out = row.output_image_tokens or 0
    return (
        _text_part(uncached, "input_uncached_tokens", audio_in, image_in, "input_audio_tokens"),
        _text_part(
            cached, "input_cached_tokens", audio_cached, image_cached, "input_cached_audio_tokens"
        ),
        _text_part(row.output_tokens, "output_tokens", audio_out, image_out, "output_audio_tokens"),
        (audio_in, audio_cached, audio_out, image_in, image_cached, image_out),
    )


def embeddings_record(row: EmbeddingsRow, at: At) -> CostRecord:
    """Embeddings are uncached input only."""
    return units.input_only_record(row, at, "embeddings")


def _completions_qualify(batch: bool | None, service_tier: str | None) -> tuple[str, str]:
    return usage_line_item("completions", batch is True, service_tier or "")


_DIMENSIONS = ("model", "user_id", "project_id", "api_key_id")
#: A completions row without audio or image tokens, for the C builder
#: (:mod:`costpipe.providers.usage_rows`): what :func:`completions_record` reads.
COMPLETIONS_TEXT = TextRows(
    CompletionsRow,
    "openai",
    _DIMENSIONS,
    ("batch", "service_tier"),
    _completions_qualify,
    (
        "input_uncached_tokens",
        "input_cached_tokens",
        "input_cache_write_tokens",
        None,
        "output_tokens",
        "num_model_requests",
    ),
    total="input_tokens",
    guards=(
        "input_audio_tokens",
        "input_image_tokens",
        "input_cached_audio_tokens",
        "input_cached_image_tokens",
        "output_audio_tokens",
        "output_image_tokens",
    ),
)


def _input_only(row_type: type, line_item: str) -> TextRows:
    """What :func:`.units.input_only_record` reads (embeddings, moderations)."""
    return TextRows(
        row_type,
        "openai",
        _DIMENSIONS,
        (None, None),
        lambda _a, _b: (line_item, ""),
        ("input_tokens", None, None, None, None, "num_model_requests"),
    )


#: The cost endpoint (always daily); ``api_key_id`` is dropped from its
#: ``group_by`` when the config says so.
COSTS: Endpoint[CostRow] = Endpoint(
    "/organization/costs",
    ("project_id", "line_item", "api_key_id"),
    msgspec.json.Decoder(Page[CostRow]),
    cost_record,
)
_BY_KEY_AND_MODEL = ("model", "project_id", "user_id", "api_key_id")
#: Every usage endpoint of the spec, by name (the name starts their line items);
#: ``group_by`` is every value the spec lists that a record keeps.
ENDPOINTS: dict[str, Endpoint[Any]] = {
    "completions": Endpoint(
        "/organization/usage/completions",
        ("model", "project_id", "user_id", "api_key_id", "batch", "service_tier"),
        msgspec.json.Decoder(Page[CompletionsRow]),
        completions_record,
        COMPLETIONS_TEXT,
    ),
    "embeddings": Endpoint(
        "/organization/usage/embeddings",
        _BY_KEY_AND_MODEL,
        msgspec.json.Decoder(Page[EmbeddingsRow]),
        embeddings_record,
        _input_only(EmbeddingsRow, "embeddings"),
    ),
    "moderations": Endpoint(
        "/organization/usage/moderations",
        _BY_KEY_AND_MODEL,
        msgspec.json.Decoder(Page[ModerationsRow]),
        units.moderation_record,
        _input_only(ModerationsRow, "moderations"),
    ),
    "images": Endpoint(
        "/organization/usage/images",
        (*_BY_KEY_AND_MODEL, "size", "source"),
        msgspec.json.Decoder(Page[ImagesRow]),
        units.image_record,
    ),
    "audio_speeches": Endpoint(
        "/organization/usage/audio_speeches",
        _BY_KEY_AND_MODEL,
        msgspec.json.Decoder(Page[SpeechesRow]),
        units.speech_record,
    ),
    "audio_transcriptions": Endpoint(
        "/organization/usage/audio_transcriptions",
        _BY_KEY_AND_MODEL,
        msgspec.json.Decoder(Page[TranscriptionsRow]),
        units.transcription_record,
    ),
    "vector_stores": Endpoint(
        "/organization/usage/vector_stores",
        ("project_id",),
        msgspec.json.Decoder(Page[VectorStoresRow]),
        units.vector_store_record,
    ),
    "code_interpreter_sessions": Endpoint(
        "/organization/usage/code_interpreter_sessions",
        ("project_id",),
        msgspec.json.Decoder(Page[SessionsRow]),
        units.session_record,
    ),
    # Not grouped by vector_store_id: the record has no such dimension, and a
    # call costs the same whichever store it searched.
    "file_search_calls": Endpoint(
        "/organization/usage/file_search_calls",
        ("project_id", "user_id", "api_key_id"),
        msgspec.json.Decoder(Page[FileSearchesRow]),
        units.file_search_record,
    ),
    "web_search_calls": Endpoint(
        "/organization/usage/web_search_calls",
        (*_BY_KEY_AND_MODEL, "context_level"),
        msgspec.json.Decoder(Page[WebSearchesRow]),
        units.web_search_record,
    ),
}
#: Endpoints whose buckets are always daily, whatever ``bucket_width`` says:
#: vector-store bytes are a gauge stored as byte-days (:mod:`.units`).
DAILY_ENDPOINTS = frozenset({"vector_stores"})
