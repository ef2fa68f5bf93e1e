"""The AWS SDK's own credential chain: a named profile from the shared config
file works, and no credentials at all is a clear AuthError, not a retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.errors import AuthError
from costpipe.providers.bedrock import BedrockConfig, BedrockProvider
from costpipe.simulator import Simulator
from tests.providers_cloud.bedrock.conftest import NOW, PAST, collect

pytestmark = pytest.mark.slow


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return config


def write_profile(path: Path, sim: Simulator) -> None:
    key = sim.bedrock.key("FULL")
    path.write_text(
        f"[profile billing]\naws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
    )


async def started(sim: Simulator, tmp_path: Path, **options: object) -> BedrockProvider:
    config = BedrockConfig(endpoint_url=sim.bedrock_endpoint_url, usage_metrics=False, **options)
    provider = BedrockProvider(
        config, ComponentContext("bedrock.chain", tmp_path), clock=lambda: NOW
    )
    await provider.start()
    return provider


async def test_a_profile_of_the_shared_config(
    sim: Simulator, tmp_path: Path, no_ambient_credentials: Path
) -> None:
    write_profile(no_ambient_credentials, sim)
    provider = await started(sim, tmp_path, profile="billing")
    try:
        records = await collect(provider, PAST)
    finally:
        await provider.close()
    assert sum(r.cost_usd for r in records) == sim.bedrock.truth_billed(
        PAST.start, PAST.end, sim.now()
    )


async def test_no_credentials_is_an_auth_error(
    sim: Simulator, tmp_path: Path, no_ambient_credentials: Path
) -> None:
    provider = await started(sim, tmp_path)
    try:
        with pytest.raises(AuthError, match="no AWS credentials found"):
            await collect(provider, PAST)
        assert provider.retries == 0
    finally:
        await provider.close()


def write_role_profile(path: Path, sim: Simulator) -> None:
    source = sim.bedrock.key("ROLE")
    path.write_text(
        f"[profile source]\naws_access_key_id = {source.access_key_id}\n"
        f"aws_secret_access_key = {source.secret_access_key}\n"
        "[profile billing]\nrole_arn = arn:aws:iam::111122223333:role/costpipe-billing\n"
        "source_profile = source\nrole_session_name = costpipe\n"
    )


async def test_a_profile_that_assumes_a_role(
    sim: Simulator, tmp_path: Path, no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source key may only call sts:AssumeRole; the role's session reads the bill."""
    write_role_profile(no_ambient_credentials, sim)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sim.bedrock_endpoint_url)
    provider = await started(sim, tmp_path, profile="billing")
    try:
        records = await collect(provider, PAST)
    finally:
        await provider.close()
    assert sim.bedrock.assumed == ["arn:aws:iam::111122223333:role/costpipe-billing"]
    assert sum(r.cost_usd for r in records) == sim.bedrock.truth_billed(
        PAST.start, PAST.end, sim.now()
    )
