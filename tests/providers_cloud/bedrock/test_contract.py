"""The Bedrock provider keeps the ProviderContract against the fake AWS, and
``check --connect`` names each missing IAM permission and the Cost Explorer cost."""

from __future__ import annotations

import pytest

from costpipe.errors import AuthError
from costpipe.providers.bedrock import BedrockProvider
from costpipe.records import Window
from costpipe.testing import ProviderContract
from tests.providers_cloud.bedrock.conftest import PAST, MakeProvider

pytestmark = pytest.mark.slow  # each test starts two SDK clients

UNKNOWN_KEY = "AKIAUNKNOWN000000000"


class TestBedrockContract(ProviderContract):
    @pytest.fixture
    async def provider(self, make_provider: MakeProvider) -> BedrockProvider:
        return await make_provider()

    @pytest.fixture
    async def refused_provider(self, make_provider: MakeProvider) -> BedrockProvider:
        return await make_provider(key=UNKNOWN_KEY, name="refused")

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(PAST.start, PAST.start.replace(day=PAST.start.day + 2))


async def test_check_names_every_missing_cost_explorer_permission(
    make_provider: MakeProvider,
) -> None:
    provider = await make_provider(key="NOCE")
    with pytest.raises(AuthError) as caught:
        await provider.check_connection()
    message = str(caught.value)
    assert "missing IAM permission ce:GetDimensionValues" in message
    assert "missing IAM permission ce:GetCostAndUsage" in message
    assert "cloudwatch:ListMetrics;" not in message  # allowed: not reported missing


async def test_check_names_a_missing_cloudwatch_permission(make_provider: MakeProvider) -> None:
    provider = await make_provider(key="NOCW")
    with pytest.raises(AuthError, match=r"missing IAM permission cloudwatch:GetMetricData"):
        await provider.check_connection()


async def test_check_refused_credentials(make_provider: MakeProvider) -> None:
    provider = await make_provider(key=UNKNOWN_KEY)
    with pytest.raises(AuthError, match="AWS refused the credentials"):
        await provider.check_connection()


async def test_check_states_the_monthly_cost_explorer_cost(make_provider: MakeProvider) -> None:
    provider = await make_provider(cost_explorer_interval="12h")
    message = await provider.check_connection()
    # 3 Bedrock services: 4 requests a poll, 60 polls in 30 days, $0.01 each.
    assert "3 Bedrock service(s)" in message
    assert "about $2.40 a month" in message
    made = (
        provider.api.requests["ce:GetDimensionValues"] + provider.api.requests["ce:GetCostAndUsage"]
    )
    assert f"this check made {made} Cost Explorer request(s)" in message
