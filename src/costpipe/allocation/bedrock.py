"""Amazon Bedrock: where Cost Explorer's bill and CloudWatch's usage meet (pure).

The two AWS APIs name a model differently. A billed row's model comes from
its usage type (``USE1-Claude3.7Sonnet-input-tokens`` -> ``Claude3.7Sonnet``)
or from a Marketplace service ("Claude 3.5 Sonnet v2 (Amazon Bedrock
Edition)" -> ``Claude 3.5 Sonnet v2``); a usage row's model is CloudWatch's
``ModelId``: a foundation model (``anthropic.claude-3-7-sonnet-20250219-v1:0``),
a cross-region or global inference profile (``us.`` / ``eu.`` / ``apac.`` /
``global.`` in front) or an ARN of either. :func:`match_model` reduces both to
one key; :func:`bedrock_charge` reads the token type from the billed line item.

The key is the model's words without anything that is not the model itself:
an ARN's resource id, the inference profile's geography, the vendor, the
release date, a ``-v1:0`` / ``-1:0`` version (a ``v2`` or later names another
model and is kept: "Claude 3.5 Sonnet v2"), a context window (``:200k``), then
case and punctuation. A name outside that grammar (an application inference
profile ARN, an empty model) has no key: its money stays unattributed, its
usage unbilled; nothing is guessed. The table is
``tests/providers_cloud/bedrock/test_allocation_match.py``.

CloudWatch has no linked account or cost-allocation tag, so a billed cell is
matched on its model and token type only, and its allocated rows keep the
cell's ``project_id`` (the linked account or tag value).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["PROVIDER", "TOKEN_SUFFIXES", "bedrock_token_field", "match_model"]

PROVIDER = "bedrock"

#: The ending of a usage type (after any ``<service>: `` prefix) to the counter
#: CloudWatch fills for it; longest first (``-input-tokens`` ends the cache ones
#: of the older spelling). ``providers/bedrock/usage_types.py`` reads it too (the
#: core may not import the plugin, so the table lives here).
TOKEN_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("-cache-read-input-token-count", "cached_input_tokens"),
    ("-cache-write-input-token-count", "cache_write_tokens"),
    ("-cache-read-input-tokens", "cached_input_tokens"),
    ("-cache-write-input-tokens", "cache_write_tokens"),
    ("-input-tokens", "uncached_input_tokens"),
    ("-output-tokens", "output_tokens"),
    ("_CacheReadInputTokenCount-Units", "cached_input_tokens"),
    ("_CacheWriteInputTokenCount-Units", "cache_write_tokens"),
    ("_InputTokenCount-Units", "uncached_input_tokens"),
    ("_OutputTokenCount-Units", "output_tokens"),
)

_MAX_NAME = 300  # provider text: longer is not a model name
_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:(foundation-model|inference-profile)/(.+)$"
)
_GEOGRAPHY = re.compile(r"^(us|eu|apac|global|us-gov|jp|au|ca)\.")
_VENDOR = re.compile(r"^(ai21|amazon|anthropic|cohere|deepseek|meta|mistral|openai|qwen|writer)\.")
_CONTEXT = re.compile(r":\d+[km]$")
_VERSION = re.compile(r"-v?(\d+):\d+$")
_DATE = re.compile(r"-20\d{6}(?=-|$)")
_MODEL_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .:_-]*$")


@lru_cache(maxsize=4096)
def match_model(model: str) -> str:
    """The key a Bedrock model name or ModelId is matched on; ``""`` when the
    name is not one this grammar reads (never matched, never guessed)."""
    text = model.strip()
    if not text or len(text) > _MAX_NAME:
        return ""
    if text.startswith("arn:"):
        arn = _ARN.match(text)
        if arn is None:
            return ""  # application inference profile: its model is not in the name
        text = arn.group(2)
    if not _MODEL_TEXT.match(text):
        return ""
    text = text.lower()
    text = _GEOGRAPHY.sub("", text)
    text = _VENDOR.sub("", text)
    text = _CONTEXT.sub("", text)
    version = _VERSION.search(text)
    suffix = ""
    if version is not None:
        text = text[: version.start()]
        if int(version.group(1)) > 1:
            suffix = f"v{version.group(1)}"
    text = _DATE.sub("", text)
    key = re.sub(r"[^a-z0-9]", "", text) + suffix
    return key


def bedrock_token_field(line_item: str) -> str:
    """The counter a billed line item's usage type bills, ``""`` when it bills
    no token type CloudWatch counts (provisioned throughput, guardrails, new)."""
    usage_type = line_item.rpartition(": ")[2]
    for suffix, field in TOKEN_SUFFIXES:
        if usage_type.endswith(suffix):
            return field
    return ""
