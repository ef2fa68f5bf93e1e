"""The usage-type table: every documented shape maps to a model and a disjoint
token category; an unknown shape keeps its money as a billed line item."""

from __future__ import annotations

import pytest

from costpipe.providers.bedrock.usage_types import (
    UsageClass,
    classify,
    is_bedrock_service,
    service_model,
)
from costpipe.records import TOKEN_FIELDS

BEDROCK = "Amazon Bedrock"
CLAUDE_MP = "Claude 3.5 Sonnet v2 (Amazon Bedrock Edition)"

TABLE = [
    (BEDROCK, "USE1-Claude3.7Sonnet-input-tokens",
     UsageClass("USE1", "Claude3.7Sonnet", "uncached_input_tokens")),
    (BEDROCK, "USE1-Claude3.7Sonnet-output-tokens",
     UsageClass("USE1", "Claude3.7Sonnet", "output_tokens")),
    (BEDROCK, "USE1-Claude3.7Sonnet-cache-read-input-token-count",
     UsageClass("USE1", "Claude3.7Sonnet", "cached_input_tokens")),
    (BEDROCK, "USE1-Claude3.7Sonnet-cache-write-input-token-count",
     UsageClass("USE1", "Claude3.7Sonnet", "cache_write_tokens")),
    (BEDROCK, "USE1-Claude3.7Sonnet-cross-region-input-tokens",
     UsageClass("USE1", "Claude3.7Sonnet", "uncached_input_tokens", ("cross-region",))),
    (BEDROCK, "USE1-Claude-Sonnet-4.5-cross-region-global-output-tokens",
     UsageClass("USE1", "Claude-Sonnet-4.5", "output_tokens", ("cross-region-global",))),
    (BEDROCK, "USW2-Llama3.1-405B-Instruct-batch-output-tokens",
     UsageClass("USW2", "Llama3.1-405B-Instruct", "output_tokens", ("batch",))),
    (BEDROCK, "EUC1-NovaPro-flex-input-tokens",
     UsageClass("EUC1", "NovaPro", "uncached_input_tokens", ("flex",))),
    (BEDROCK, "APS1-NovaPro-priority-input-tokens",
     UsageClass("APS1", "NovaPro", "uncached_input_tokens", ("priority",))),
    (BEDROCK, "USE1-mantle-gpt-oss-120b-input-tokens",
     UsageClass("USE1", "gpt-oss-120b", "uncached_input_tokens", ("mantle",))),
    (CLAUDE_MP, "USE1-MP:USE1_InputTokenCount-Units",
     UsageClass("USE1", "Claude 3.5 Sonnet v2", "uncached_input_tokens")),
    (CLAUDE_MP, "USE1-MP:USE1_CacheReadInputTokenCount-Units",
     UsageClass("USE1", "Claude 3.5 Sonnet v2", "cached_input_tokens")),
    (CLAUDE_MP, "USE1-MP:USE1_CacheWriteInputTokenCount-Units",
     UsageClass("USE1", "Claude 3.5 Sonnet v2", "cache_write_tokens")),
    (CLAUDE_MP, "USE1-MP:USE1_OutputTokenCount-Units",
     UsageClass("USE1", "Claude 3.5 Sonnet v2", "output_tokens")),
]  # fmt: skip


@pytest.mark.parametrize(("service", "usage_type", "expected"), TABLE)
def test_known_usage_types(service: str, usage_type: str, expected: UsageClass) -> None:
    assert classify(usage_type, service) == expected
    assert expected.category in TOKEN_FIELDS


@pytest.mark.parametrize(
    "usage_type",
    ["USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits-Hours", "USE1-Guardrails-TextUnits",
     "weird usage type with spaces", ""],
)  # fmt: skip
def test_unknown_usage_types_fall_back_to_a_line_item(usage_type: str) -> None:
    found = classify(usage_type)
    assert found.category == ""
    assert found.model == ""


def test_marketplace_service_names_the_model_even_for_unknown_usage() -> None:
    found = classify("USE1-MP:USE1_SomethingNew-Units", "Claude Opus 4.1 (Amazon Bedrock Edition)")
    assert (found.model, found.category) == ("Claude Opus 4.1", "")


def test_bedrock_services() -> None:
    assert is_bedrock_service("Amazon Bedrock")
    assert is_bedrock_service(CLAUDE_MP)
    assert is_bedrock_service("Amazon Bedrock AgentCore")  # a new one is kept, not dropped
    assert not is_bedrock_service("Amazon Elastic Compute Cloud - Compute")
    assert service_model(CLAUDE_MP) == "Claude 3.5 Sonnet v2"
    assert service_model("Amazon Bedrock") == ""
