"""Cost Explorer usage types of Amazon Bedrock to model and token category (no IO).

A Bedrock usage type names the region, the model and what was counted:
``USE1-Claude3.5Sonnet-input-tokens``, ``USW2-NovaPro-output-tokens``,
``USE1-Claude3.7Sonnet-cache-read-input-token-count``,
``USE1-Claude3.7Sonnet-cache-write-input-token-count``, with markers for the
newer ``mantle`` endpoints, service tiers (``flex``, ``priority``, ``batch``,
``latency-optimized``) and cross-region inference (``cross-region``,
``global``). Marketplace-billed models (Anthropic's "Claude ... (Amazon
Bedrock Edition)") name the model in the *service* and count in usage types
such as ``USE1-MP:USE1_InputTokenCount-Units``.

:func:`classify` reads both shapes with :data:`CATEGORY_SUFFIXES` and
:data:`MARKERS`. Anything else is kept as a billed line item with whatever model
the service names: money is never dropped because its usage type is new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from costpipe.allocation.bedrock import TOKEN_SUFFIXES

__all__ = [
    "BEDROCK_SERVICE",
    "CATEGORY_SUFFIXES",
    "MARKERS",
    "UsageClass",
    "classify",
    "is_bedrock_service",
    "service_model",
]

BEDROCK_SERVICE = "Amazon Bedrock"
_EDITION = "(Amazon Bedrock Edition)"

#: Usage-type endings, longest first, to the disjoint token category of
#: :mod:`costpipe.records` they count (cache reads and writes are not input): the
#: core's table, which allocation matches billed lines with (one list for both).
CATEGORY_SUFFIXES = TOKEN_SUFFIXES

#: Markers that qualify a usage type (tier, routing, endpoint family); they are
#: cut out of the model name and kept, in this order, in :attr:`UsageClass.markers`.
MARKERS: tuple[str, ...] = (
    "cross-region-global",
    "cross-region",
    "global",
    "mantle",
    "batch",
    "flex",
    "priority",
    "latency-optimized",
)

_REGION = re.compile(r"^([A-Z]{2,4}[0-9]?)-")


@dataclass(frozen=True, slots=True)
class UsageClass:
    """What one usage type counts: ``category`` is a token field of
    :class:`~costpipe.records.CostRecord`, ``""`` for an unknown usage type."""

    region: str
    model: str
    category: str
    markers: tuple[str, ...] = ()


def is_bedrock_service(service: str) -> bool:
    """A SERVICE that names Bedrock: Amazon Bedrock, a Marketplace model billed as
    a Bedrock edition, or a Bedrock service AWS adds later (kept, never dropped)."""
    return "bedrock" in service.lower()


def service_model(service: str) -> str:
    """The model a Marketplace service names (``Claude 3.5 Sonnet (Amazon Bedrock
    Edition)`` -> ``Claude 3.5 Sonnet``); ``""`` for Amazon Bedrock itself."""
    text = service.strip()
    if text.endswith(_EDITION):
        return text[: -len(_EDITION)].strip()
    return ""


def classify(usage_type: str, service: str = BEDROCK_SERVICE) -> UsageClass:
    """The region, model, token category and markers of *usage_type* of *service*."""
    region = ""
    rest = usage_type
    match = _REGION.match(usage_type)
    if match is not None:
        region, rest = match.group(1), usage_type[match.end() :]
    category = ""
    for suffix, field in CATEGORY_SUFFIXES:
        if rest.endswith(suffix):
            category, rest = field, rest[: -len(suffix)]
            break
    markers: list[str] = []
    parts = rest.split("-")
    for marker in MARKERS:
        words = marker.split("-")
        for index in range(len(parts) - len(words) + 1):
            if [p.lower() for p in parts[index : index + len(words)]] == words:
                del parts[index : index + len(words)]
                markers.append(marker)
                break
    named = service_model(service)
    if named:  # Marketplace: the service names the model, the usage type only counts.
        return UsageClass(region, named, category, tuple(markers))
    if not category:  # unknown shape: kept whole as a billed line item
        return UsageClass(region, "", "", ())
    model = "-".join(parts).strip("-")
    return UsageClass(region, model, category, tuple(markers))
