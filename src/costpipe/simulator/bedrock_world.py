"""The fake AWS account behind :mod:`costpipe.simulator.bedrock_api`: Bedrock
spend by hour, service, usage type and linked account, CloudWatch token counts
by hour and ModelId, its credentials and permissions, and the exact truth.

Every figure is a hash of the seed and its labels (:mod:`.seeded`), so any
window is computed on its own and the truth is the same sum the API serves: a
daily amount is the exact sum of its 24 hourly amounts (nanodollars, served
with nine decimals). :meth:`BedrockWorld.revise` makes late data arrive: the
amounts of the last three days change (Cost Explorer revises for days), and a
query paging across the change gets ``RequestChangedException``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from costpipe.simulator.seeded import SeededHash

__all__ = ["ACCOUNTS", "MODEL_IDS", "SERVICES", "AwsKey", "BedrockWorld"]

HOUR = timedelta(hours=1)
_NANO = Decimal("1e-9")
ACCOUNTS = ("111122223333", "444455556666")
#: SERVICE -> its usage types: plain and cross-region, cache, mantle, batch and
#: flex tiers, Marketplace editions, and shapes no table knows (provisioned
#: throughput, guardrails) that must still arrive as billed line items.
SERVICES: dict[str, tuple[str, ...]] = {
    "Amazon Bedrock": (
        "USE1-Claude3.7Sonnet-input-tokens",
        "USE1-Claude3.7Sonnet-output-tokens",
        "USE1-Claude3.7Sonnet-cache-read-input-token-count",
        "USE1-Claude3.7Sonnet-cache-write-input-token-count",
        "USE1-Claude3.7Sonnet-cross-region-input-tokens",
        "USW2-Llama3.1-405B-Instruct-batch-output-tokens",
        "EUC1-NovaPro-flex-input-tokens",
        "USE1-mantle-gpt-oss-120b-input-tokens",
        "USE1-mantle-gpt-oss-120b-output-tokens",
        "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits-Hours",
        "USE1-Guardrails-TextUnits",
    ),
    "Claude 3.5 Sonnet v2 (Amazon Bedrock Edition)": (
        "USE1-MP:USE1_InputTokenCount-Units",
        "USE1-MP:USE1_OutputTokenCount-Units",
        "USE1-MP:USE1_CacheReadInputTokenCount-Units",
    ),
    "Claude Opus 4.1 (Amazon Bedrock Edition)": ("USW2-MP:USW2_OutputTokenCount-Units",),
    # Not Bedrock: the service search must never read these.
    "Amazon Elastic Compute Cloud - Compute": ("USE1-BoxUsage:m5.large",),
    "AWS Lambda": ("USE1-Request",),
}
#: ModelIds of the ``AWS/Bedrock`` metrics: foundation models, cross-region and
#: global inference profiles, an application inference profile ARN.
MODEL_IDS = (
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6",
    "meta.llama3-1-405b-instruct-v1:0",
    "amazon.nova-pro-v1:0",
    "openai.gpt-oss-120b-1:0",
    # The Marketplace editions' models, so their bills meet usage in allocation.
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "us.anthropic.claude-opus-4-1-20250805-v1:0",
)
METRICS = (
    "InputTokenCount",
    "OutputTokenCount",
    "CacheReadInputTokenCount",
    "CacheWriteInputTokenCount",
    "Invocations",
)
_EVERYTHING = frozenset(
    {"ce:GetCostAndUsage", "ce:GetDimensionValues", "cloudwatch:ListMetrics",
     "cloudwatch:GetMetricData"}
)  # fmt: skip
_REVISED_DAYS = 3


@dataclass(frozen=True, slots=True)
class AwsKey:
    """An access key the fake knows: its secret and the IAM actions it may call."""

    access_key_id: str
    secret_access_key: str
    allowed: frozenset[str]


@dataclass
class BedrockWorld:
    """The fake account; ``now`` is the simulator's clock (unix seconds)."""

    seed: int
    revision: int = 0
    throttle_every: int = 0
    """Answer every n-th request with a throttling error (0: never)."""
    corrupt_usage_type: str | None = None
    """Serve this usage type's amounts as text that is not a number (a malformed page)."""
    keys: dict[str, AwsKey] = field(default_factory=dict)
    assumed: list[str] = field(default_factory=list)
    """Role ARNs assumed through STS, in order."""
    protocols: Counter[str] = field(default_factory=Counter)
    """Requests served, by wire protocol (``json``, ``query``)."""

    def __post_init__(self) -> None:
        self._hash = SeededHash(self.seed)
        for name, allowed in (
            ("FULL", _EVERYTHING),
            ("NOCE", _EVERYTHING - {"ce:GetCostAndUsage", "ce:GetDimensionValues"}),
            ("NOCW", _EVERYTHING - {"cloudwatch:GetMetricData"}),
            ("ROLE", frozenset({"sts:AssumeRole"})),
        ):
            key_id = "AKIA" + name + self._hash.token(12, "key", name).upper()
            secret = self._hash.token(40, "secret", name)
            self.keys[key_id] = AwsKey(key_id, secret, frozenset(allowed))
        self._revised_at = 0

    def key(self, name: str) -> AwsKey:
        """The key called ``FULL`` (every permission), ``NOCE`` (no Cost Explorer),
        ``NOCW`` (no ``cloudwatch:GetMetricData``) or ``ROLE`` (only
        ``sts:AssumeRole``, whose session may do everything)."""
        return next(k for k in self.keys.values() if k.access_key_id[4:8] == name)

    def assume_role(self, role_arn: str, session: str) -> dict[str, object]:
        """STS ``AssumeRole``: a temporary key with every permission this fake knows."""
        number = len(self.keys)
        key_id = "ASIA" + self._hash.token(16, "session", role_arn, session, number).upper()
        secret = self._hash.token(40, "session-secret", key_id)
        self.keys[key_id] = AwsKey(key_id, secret, _EVERYTHING)
        self.assumed.append(role_arn)
        return {
            "Credentials": {
                "AccessKeyId": key_id,
                "SecretAccessKey": secret,
                "SessionToken": self._hash.token(64, "token", key_id),
                "Expiration": "2099-01-01T00:00:00Z",
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"AROAFAKE:{session}",
                "Arn": f"arn:aws:sts::111122223333:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session}",
            },
        }

    def revise(self, now: int) -> int:
        """Late data arrives: amounts of the last three days change."""
        self.revision += 1
        self._revised_at = now
        return self.revision

    def _revision_of(self, hour: int, now: int) -> int:
        recent = hour >= (self._revised_at or now) - _REVISED_DAYS * 86400
        return self.revision if recent else 0

    # -- Cost Explorer -----------------------------------------------------------------

    def hourly_nanos(self, service: str, usage_type: str, account: str, hour: int, now: int) -> int:
        """Nanodollars of one usage type, account and hour (0: no usage);
        only hours that ended by *now* have any."""
        if hour + 3600 > now:
            return 0
        labels = ("ce", service, usage_type, account, hour, self._revision_of(hour, now))
        if self._hash.below(10, *labels, "gap") < 3:
            return 0
        return 1 + self._hash.below(4_000_000_000, *labels)  # up to $4 an hour

    def amount(self, service: str, usage_type: str, account: str, start: int, end: int,
               now: int) -> Decimal:  # fmt: skip
        """Exact USD of ``[start, end)`` (hour-aligned), as Cost Explorer serves it."""
        nanos = sum(
            self.hourly_nanos(service, usage_type, account, hour, now)
            for hour in range(start, end, 3600)
        )
        return (Decimal(nanos) * _NANO).quantize(_NANO)

    def truth_billed(self, start: datetime, end: datetime, now: int) -> Decimal:
        """Every Bedrock service's USD in ``[start, end)``: what a backfill must store."""
        first, last = int(start.timestamp()), int(end.timestamp())
        return sum(
            (
                self.amount(service, usage_type, account, first, last, now)
                for service, usage_types in SERVICES.items()
                if "bedrock" in service.lower()
                for usage_type in usage_types
                for account in ACCOUNTS
            ),
            Decimal(0),
        )

    # -- CloudWatch ----------------------------------------------------------------------

    def metric_sum(self, model: str, metric: str, hour: int, now: int) -> int | None:
        """The hourly Sum of *metric* for *model*, ``None`` when there is no data point."""
        if hour + 3600 > now or self._hash.below(10, "cw", model, hour, "gap") < 2:
            return None
        invocations = 1 + self._hash.below(400, "cw", model, hour)
        per_call = {
            "Invocations": 1,
            "InputTokenCount": 1 + self._hash.below(3000, "cw", model, "in"),
            "OutputTokenCount": 1 + self._hash.below(800, "cw", model, "out"),
            "CacheReadInputTokenCount": self._hash.below(5000, "cw", model, "read"),
            "CacheWriteInputTokenCount": self._hash.below(600, "cw", model, "write"),
        }[metric]
        return invocations * per_call

    def truth_usage(self, start: datetime, end: datetime, now: int) -> dict[str, int]:
        """Sums of every metric over every model in ``[start, end)``."""
        totals = dict.fromkeys(METRICS, 0)
        for hour in range(int(start.timestamp()), int(end.timestamp()), 3600):
            for model in MODEL_IDS:
                for metric in METRICS:
                    totals[metric] += self.metric_sum(model, metric, hour, now) or 0
        return totals


def iso_hour(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
