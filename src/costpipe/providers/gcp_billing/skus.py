"""SKU descriptions of Vertex AI and the Gemini API -> model and token category.

Google's SKU descriptions are free text and change wording between model
generations: ``Gemini 2.5 Pro Input Text Tokens (<= 200K)``, ``Generate content
input token count Gemini 2.0 Flash short input text``, ``Gemini 1.5 Flash Text
Output - Predictions``, ``Gemini 2.5 Flash Thinking Output Text Tokens``,
``Gemini 2.0 Flash-Lite Cached Input Text Tokens``. The table below reads the
model family and version wherever they stand, and the token category from
keywords; a description it cannot read keeps its money as a billed line item
with no model (:class:`Sku` with ``model == ""``), never dropped.

Categories follow :mod:`costpipe.records` (disjoint): ``input`` (uncached
input), ``cached`` (input read from a context cache), ``output`` (output,
thinking included). Cache *storage* and per-character or per-image SKUs are
money only (no token counter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Sku", "parse_sku", "token_field"]

_MODEL = re.compile(
    r"\b(gemini|gemma|imagen|veo|text-embedding|text-multilingual-embedding|claude|llama)"
    r"(?:[\s\-]*(\d+(?:\.\d+)?))?"
    r"(?:[\s\-]*(pro|flash[\s\-]*lite|flash|ultra|nano|sonnet|opus|haiku))?",
)
_NOT_TOKENS = ("storage", "character", "per image", "image generation", "second", "grounding")


@dataclass(frozen=True, slots=True)
class Sku:
    model: str
    category: str  # "input", "cached", "output" or "" (money only)
    modality: str  # "text", "image" or "audio"


def _model(text: str) -> str:
    match = _MODEL.search(text)
    if match is None:
        return ""
    parts = [p for p in match.groups() if p]
    return "-".join(re.sub(r"[\s\-]+", "-", p) for p in parts)


def _category(text: str) -> str:
    if any(word in text for word in _NOT_TOKENS):
        return ""
    if "cache" in text and ("input" in text or "read" in text or "token" in text):
        return "cached"
    if "output" in text or "thinking" in text or "response" in text:
        return "output"
    if "input" in text or "prompt" in text:
        return "input"
    return ""


@lru_cache(maxsize=4096)
def parse_sku(description: str) -> Sku:
    """The model and token category a SKU description names (``""``: unknown)."""
    text = " ".join(description.lower().split())
    modality = "audio" if "audio" in text else "image" if "image" in text else "text"
    return Sku(_model(text), _category(text), modality)


_FIELDS = {
    ("input", "text"): "uncached_input_tokens",
    ("cached", "text"): "cached_input_tokens",
    ("output", "text"): "output_tokens",
    ("input", "audio"): "uncached_audio_input_tokens",
    ("cached", "audio"): "cached_audio_input_tokens",
    ("output", "audio"): "audio_output_tokens",
    ("input", "image"): "uncached_image_input_tokens",
    ("cached", "image"): "cached_image_input_tokens",
    ("output", "image"): "image_output_tokens",
}


def token_field(sku: Sku) -> str | None:
    """The :class:`~costpipe.records.CostRecord` counter of *sku*'s tokens, if any."""
    return _FIELDS.get((sku.category, sku.modality)) if sku.category else None
