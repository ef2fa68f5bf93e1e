"""Which record counter is priced by which price, and per how many units.

A :class:`~costpipe.records.CostRecord` counts usage in disjoint counters
(``uncached_input_tokens``, ``cache_write_1h_tokens``, ``web_search_calls``...).
Each priced counter has one price per unit group (per million tokens, per
thousand calls); this module names them once, in the order
:class:`~costpipe.pricing.costs.UsageRate` keeps its weights. The names are
plain strings so that the pricing package imports nothing else of costpipe;
a counter a record type does not have reads as 0.

genai-prices names its prices by *price keys* (``cache_read_mtok``,
``web_searches_kcount``). :data:`GENAI_KEYS` lists, per counter, the keys that
may price it, most specific first, the way genai-prices itself falls back for
text tokens (a cache read without a price of its own costs the input price).
Modality tokens (audio, image) and usage units have no such fallback here: a
model whose data has no audio price leaves audio tokens unpriced rather than
charging them as text, which would understate them several times over.
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "GENAI_KEYS", "LONG_CONTEXT_START", "PER", "TEXT_CATEGORIES"]

#: Priced counters in weight order. The first five are the text token
#: categories every rate has (the positional fast path of UsageRate.cost).
CATEGORIES: tuple[str, ...] = (
    "uncached_input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "uncached_audio_input_tokens",
    "cached_audio_input_tokens",
    "audio_output_tokens",
    "uncached_image_input_tokens",
    "cached_image_input_tokens",
    "image_output_tokens",
    "web_search_calls",
    "file_search_calls",
    "speech_characters",
    "transcription_seconds",
)
TEXT_CATEGORIES = CATEGORIES[:5]

#: Units per price, per counter: prices are stored per this many units
#: (genai-prices' ``_mtok`` per million tokens, ``_kcount`` per thousand calls,
#: ``_mchars`` per million characters, ``_hours`` per 3,600 seconds).
PER: dict[str, int] = {
    **{name: 1_000_000 for name in CATEGORIES if name.endswith("_tokens")},
    "web_search_calls": 1_000,
    "file_search_calls": 1_000,
    "speech_characters": 1_000_000,
    "transcription_seconds": 3_600,
}

#: genai-prices price keys per counter, most specific first.
GENAI_KEYS: dict[str, tuple[str, ...]] = {
    "uncached_input_tokens": ("input_mtok",),
    "cached_input_tokens": ("cache_read_mtok", "input_mtok"),
    "cache_write_tokens": ("cache_write_5m_mtok", "cache_write_mtok", "input_mtok"),
    "cache_write_1h_tokens": ("cache_write_1h_mtok", "cache_write_mtok", "input_mtok"),
    "output_tokens": ("output_mtok",),
    "uncached_audio_input_tokens": ("input_audio_mtok",),
    "cached_audio_input_tokens": ("cache_audio_read_mtok",),
    "audio_output_tokens": ("output_audio_mtok",),
    "uncached_image_input_tokens": ("input_image_mtok",),
    "cached_image_input_tokens": ("cache_image_read_mtok",),
    "image_output_tokens": ("output_image_mtok",),
    "web_search_calls": ("web_searches_kcount",),
    "file_search_calls": ("storage_searches_kcount",),
    "speech_characters": ("input_mchars",),
    "transcription_seconds": ("input_audio_hours", "audio_hours"),
}

#: Input size (tokens) above which Anthropic's ``200k-1M`` context window starts.
LONG_CONTEXT_START = 200_000
