"""``[[providers.bedrock]]``: the options of one AWS account's Bedrock spend."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from costpipe.components import ComponentConfig
from costpipe.config.durations import Duration

__all__ = ["BedrockConfig"]


class BedrockConfig(ComponentConfig):
    """``[[providers.bedrock]]``. Credentials come from the AWS SDK's own chain
    (environment, ``profile``, container or instance role, a profile's
    ``role_arn`` assumption) unless ``access_key_id`` is set."""

    region: str = Field(
        default="us-east-1", description="Region whose CloudWatch `AWS/Bedrock` metrics are read."
    )
    cost_explorer_region: str = Field(
        default="us-east-1", description="Region of the Cost Explorer endpoint (global: us-east-1)."
    )
    profile: str | None = Field(
        default=None, description="Named profile of ~/.aws/config (may assume a role)."
    )
    access_key_id: SecretStr | None = Field(
        default=None, description="Static key id (write `${ENV_VAR}`); default: the SDK chain."
    )
    secret_access_key: SecretStr | None = Field(
        default=None, description="Static secret key (write `${ENV_VAR}`), with `access_key_id`."
    )
    endpoint_url: str | None = Field(
        default=None,
        description="One endpoint for both APIs (a proxy or the simulator's `/aws`); "
        "default: AWS's own.",
    )
    organization: str | None = Field(
        default=None, description="Label stored as `account` (default: the instance name)."
    )
    granularity: Literal["DAILY", "HOURLY"] = Field(
        default="DAILY",
        description="Cost Explorer buckets (HOURLY only if the account enabled it).",
    )
    group_by_tag: str | None = Field(
        default=None,
        description="Cost-allocation tag stored as `project_id` instead of the linked account "
        "(e.g. an application inference profile's `team`).",
    )
    cost_metric: Literal["UnblendedCost", "NetUnblendedCost", "AmortizedCost"] = Field(
        default="UnblendedCost", description="Cost Explorer metric stored as billed money."
    )
    extra_services: list[str] = Field(
        default_factory=list,
        description="Cost Explorer SERVICE names billed with Bedrock but not found by the "
        "`Bedrock` search.",
    )
    cost_explorer_interval: Duration = Field(
        default=timedelta(hours=6),
        description="Least time between Cost Explorer reads ($0.01 per request); "
        "keep it below `pipeline.lookback`.",
    )
    cost_explorer: bool = Field(
        default=True,
        description="Read billed money from Cost Explorer (off for a second region's "
        "instance: Cost Explorer covers every region).",
    )
    usage_metrics: bool = Field(
        default=True, description="Read CloudWatch token counts by ModelId (estimated usage)."
    )
    max_models: int = Field(
        default=200, ge=1, le=2000, description="Most ModelIds read from CloudWatch per fetch."
    )
    max_pages: int = Field(
        default=100, ge=1, le=10_000, description="Most pages one API call may page through."
    )
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per AWS request (SDK standard retries)."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=30), description="Time limit of one request attempt."
    )

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> BedrockConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set both access_key_id and secret_access_key, or neither")
        return self
