"""What a billed line item buys, in terms usage rows can be matched on.

A cost row's line item is free text chosen by its provider. For the providers
whose grammar costpipe knows, it names a model (a dimension of its own), a
token type and a service tier; a usage row belongs to the item's cell only when
its own line item has the same tier, and takes a share in proportion to its
estimated cost of that token type. Within one cell (one model, one tier, one
token type) every token has one price, so that cost is proportional to the
row's token count of the type, which is what :attr:`Charge.token_fields` names.

* OpenAI (``providers/openai/decode.py``, Costs API ``line_item``):
  ``[<tier> | ]<model>, input|cached input|output``; the tier prefix is
  ``batch`` or a service tier (``flex``, ``priority``), none for the default
  tier. Usage line items are ``completions[, batch][, <tier>]`` or
  ``embeddings``. ``input`` bills uncached input and cache writes.
* Anthropic (``providers/anthropic/decode.py``, cost report): the description
  ``<Model> [Batch ]Usage - Input Tokens[, Cache Read|, Cache Write (5m)|(1h)]``
  or ``... - Output Tokens`` followed by the non-default qualifiers (service
  tier, context window, inference geography, speed); usage line items are
  ``messages[, <tier>][, <context window>]``. Geography and speed are not in
  usage data, so they do not split a cell's usage.

* Amazon Bedrock (``providers/bedrock/decode.py``): the Cost Explorer usage
  type, ``<service>: `` in front for a Marketplace service; its ending names
  the token type (:mod:`costpipe.allocation.bedrock`). CloudWatch usage has no
  tier, linked account or tag, so neither is matched.

Any other line item of these three providers (web search, file search, code
execution, an unknown token type) is a :class:`Charge` that no usage matches:
its money stays ``unattributed``. Providers without a known grammar match usage
on the dimensions alone and weigh rows by their whole estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from costpipe.allocation.bedrock import PROVIDER as BEDROCK
from costpipe.allocation.bedrock import bedrock_token_field

__all__ = ["Charge", "charge_of", "usage_tier"]

_TIERS = frozenset({"batch", "flex", "priority", "scale"})
_CONTEXT_WINDOW = re.compile(r"^\d+[kM]?-\d+[kM]$")
_OPENAI_TYPES = {
    "input": ("uncached_input_tokens", "cache_write_tokens"),
    "cached input": ("cached_input_tokens",),
    "output": ("output_tokens",),
}
# Longest first: "Input Tokens" is a prefix of the cache labels.
_ANTHROPIC_TYPES = (
    ("Input Tokens, Cache Read", ("cached_input_tokens",)),
    ("Input Tokens, Cache Write (5m)", ("cache_write_tokens",)),
    ("Input Tokens, Cache Write (1h)", ("cache_write_tokens",)),
    ("Input Tokens", ("uncached_input_tokens",)),
    ("Output Tokens", ("output_tokens",)),
)


@dataclass(frozen=True, slots=True)
class Charge:
    """How usage rows match a billed line item and how they are weighed.

    ``usage`` False: no usage row can take a share (the money is unattributed).
    ``tier`` None: any usage line item matches; else :func:`usage_tier` of the
    usage row's line item must equal it. ``token_fields`` None: weigh by the
    whole estimate; else by the sum of these counters. ``unmatched``: the
    dimensions the usage data does not carry; a usage row need not agree on
    them, and the allocated rows keep the cell's values.
    """

    usage: bool
    tier: str | None = None
    token_fields: tuple[str, ...] | None = None
    unmatched: tuple[str, ...] = ()


_NO_USAGE = Charge(usage=False)
_ANY_USAGE = Charge(usage=True)


def charge_of(provider: str, line_item: str) -> Charge:
    """The :class:`Charge` of a billed *line_item* of *provider*."""
    if provider == "openai":
        return _openai(line_item)
    if provider == "anthropic":
        return _anthropic(line_item)
    if provider == BEDROCK:
        field = bedrock_token_field(line_item)
        if not field:
            return _NO_USAGE
        return Charge(usage=True, token_fields=(field,), unmatched=("project_id",))
    return _ANY_USAGE


def usage_tier(provider: str, line_item: str) -> str:
    """The tier a usage row's line item names, in the form :attr:`Charge.tier` uses."""
    qualifiers = line_item.split(", ")[1:]
    if provider == "openai":
        # A batch request is billed under "batch |" whatever its service tier.
        if "batch" in qualifiers:
            return "batch"
        return qualifiers[0] if qualifiers else ""
    return ", ".join(qualifiers)


def _openai(line_item: str) -> Charge:
    prefix, bar, rest = line_item.rpartition(" | ")
    if bar and prefix not in _TIERS:
        return _NO_USAGE  # "evals | ...", "assistants api | file search": not in usage data
    _, comma, kind = rest.rpartition(", ")
    fields = _OPENAI_TYPES.get(kind) if comma else None
    if fields is None:
        return _NO_USAGE
    return Charge(usage=True, tier=prefix, token_fields=fields)


def _anthropic(line_item: str) -> Charge:
    _, dash, tail = line_item.rpartition(" - ")
    if not dash:
        return _NO_USAGE  # "Web Search Usage", "Code Execution Usage", ...
    for label, fields in _ANTHROPIC_TYPES:
        if tail == label or tail.startswith(label + ", "):
            qualifiers = tail[len(label) :].split(", ")[1:]
            tier = [q for q in qualifiers if q in _TIERS or _CONTEXT_WINDOW.match(q)]
            return Charge(usage=True, tier=", ".join(tier), token_fields=fields)
    return _NO_USAGE
