"""Bedrock bills meet CloudWatch usage in allocation: the model-name table
(Cost Explorer's usage-type and Marketplace names against CloudWatch ModelIds),
the token type of a billed line item, and one day's cell split exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costpipe.allocation import allocate
from costpipe.allocation.bedrock import bedrock_token_field, match_model
from costpipe.providers.bedrock.usage_types import classify, service_model
from costpipe.records import CostRecord, CostSource

# (billed model as decode.py stores it, CloudWatch ModelId, the shared key)
SAME_MODEL = [
    ("Claude3.7Sonnet", "anthropic.claude-3-7-sonnet-20250219-v1:0", "claude37sonnet"),
    ("Claude3.7Sonnet", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude37sonnet"),
    ("Claude3.7Sonnet", "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude37sonnet"),
    ("Claude3.7Sonnet",
     "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
     "claude37sonnet"),
    ("Claude3.7Sonnet",
     "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
     "claude37sonnet"),
    ("Claude 3.5 Sonnet v2", "anthropic.claude-3-5-sonnet-20241022-v2:0", "claude35sonnetv2"),
    ("Claude 3.5 Sonnet", "anthropic.claude-3-5-sonnet-20240620-v1:0", "claude35sonnet"),
    ("Claude Opus 4.1", "us.anthropic.claude-opus-4-1-20250805-v1:0", "claudeopus41"),
    ("Claude3Haiku", "anthropic.claude-3-haiku-20240307-v1:0:200k", "claude3haiku"),
    ("Llama3.1-405B-Instruct", "meta.llama3-1-405b-instruct-v1:0", "llama31405binstruct"),
    ("NovaPro", "amazon.nova-pro-v1:0", "novapro"),
    ("NovaPro", "apac.amazon.nova-pro-v1:0", "novapro"),
    ("gpt-oss-120b", "openai.gpt-oss-120b-1:0", "gptoss120b"),
]  # fmt: skip


@pytest.mark.parametrize(("billed", "model_id", "key"), SAME_MODEL)
def test_both_names_of_a_model_share_one_key(billed: str, model_id: str, key: str) -> None:
    assert match_model(billed) == match_model(model_id) == key


@pytest.mark.parametrize(
    ("billed", "model_id"),
    [
        ("Claude 3.5 Sonnet", "anthropic.claude-3-5-sonnet-20241022-v2:0"),  # v1 is not v2
        ("Claude3.7Sonnet", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("NovaPro", "amazon.nova-lite-v1:0"),
    ],
)
def test_different_models_never_meet(billed: str, model_id: str) -> None:
    assert match_model(billed) != match_model(model_id)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6",
        "arn:aws:s3:::bucket",
        "<script>",
        "x" * 301,
    ],
)
def test_a_name_outside_the_grammar_has_no_key(name: str) -> None:
    assert match_model(name) == ""


def test_the_usage_type_table_feeds_the_match() -> None:
    """decode.py's model of each usage type is the name matched here."""
    assert match_model(classify("USE1-Claude3.7Sonnet-cross-region-input-tokens").model) == (
        "claude37sonnet"
    )
    assert match_model(classify("USE1-mantle-gpt-oss-120b-output-tokens").model) == "gptoss120b"
    assert match_model(classify("EUC1-NovaPro-flex-input-tokens").model) == "novapro"
    edition = "Claude 3.5 Sonnet v2 (Amazon Bedrock Edition)"
    assert match_model(service_model(edition)) == "claude35sonnetv2"


@pytest.mark.parametrize(
    ("line_item", "field"),
    [
        ("USE1-Claude3.7Sonnet-input-tokens", "uncached_input_tokens"),
        ("USE1-Claude3.7Sonnet-cross-region-input-tokens", "uncached_input_tokens"),
        ("USE1-Claude3.7Sonnet-output-tokens", "output_tokens"),
        ("USE1-Claude3.7Sonnet-cache-read-input-token-count", "cached_input_tokens"),
        ("USE1-Claude3.7Sonnet-cache-write-input-token-count", "cache_write_tokens"),
        ("Claude Opus 4.1 (Amazon Bedrock Edition): USW2-MP:USW2_OutputTokenCount-Units",
         "output_tokens"),
        ("Claude 3.5 Sonnet v2 (Amazon Bedrock Edition): USE1-MP:USE1_CacheReadInputTokenCount-Units",
         "cached_input_tokens"),
        ("USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits-Hours", ""),
        ("USE1-Guardrails-TextUnits", ""),
    ],
)  # fmt: skip
def test_the_token_type_of_a_line_item(line_item: str, field: str) -> None:
    assert bedrock_token_field(line_item) == field


DAY = datetime(2026, 11, 12, tzinfo=UTC)


def _usage(hour: int, model: str, output: int) -> CostRecord:
    return CostRecord(
        start=DAY + timedelta(hours=hour), width=timedelta(hours=1), provider="bedrock",
        account="aws", cost_source=CostSource.ESTIMATED, cost_usd=Decimal(output) / 1000,
        model=model, line_item="cloudwatch", output_tokens=output, uncached_input_tokens=5,
    )  # fmt: skip


def _billed(model: str, item: str, amount: str) -> CostRecord:
    return CostRecord(
        start=DAY, width=timedelta(days=1), provider="bedrock", account="aws",
        cost_source=CostSource.BILLED, cost_usd=Decimal(amount), model=model,
        project_id="111122223333", line_item=item,
    )  # fmt: skip


def test_a_linked_accounts_bill_is_split_over_cloudwatch_usage_by_tokens() -> None:
    usage = [
        _usage(1, "anthropic.claude-3-7-sonnet-20250219-v1:0", 100),
        _usage(2, "us.anthropic.claude-3-7-sonnet-20250219-v1:0", 300),
        _usage(2, "amazon.nova-pro-v1:0", 999),
    ]
    billed = [
        _billed("Claude3.7Sonnet", "USE1-Claude3.7Sonnet-output-tokens", "1.000000001"),
        _billed("", "USE1-Guardrails-TextUnits", "0.5"),
        _billed("Claude3Haiku", "USE1-Claude3Haiku-output-tokens", "0.25"),
    ]
    result = allocate(billed, usage)
    rows = {(r.model, r.line_item): r for r in result.records}
    first = rows[("anthropic.claude-3-7-sonnet-20250219-v1:0", billed[0].line_item)]
    second = rows[("us.anthropic.claude-3-7-sonnet-20250219-v1:0", billed[0].line_item)]
    assert first.cost_usd + second.cost_usd == Decimal("1.000000001")
    assert second.cost_usd == Decimal("0.750000001")  # 3:1 by output tokens, exact
    assert first.project_id == second.project_id == "111122223333"  # the cell's account
    assert (first.output_tokens, first.uncached_input_tokens) == (100, 0)
    unattributed = {r.line_item: r.cost_usd for r in result.records if r.user_id == "unattributed"}
    assert unattributed == {
        "USE1-Guardrails-TextUnits": Decimal("0.5"),  # no token type
        "USE1-Claude3Haiku-output-tokens": Decimal("0.25"),  # no usage of the model
    }
    assert sum(r.cost_usd for r in result.records) == Decimal("1.750000001")
