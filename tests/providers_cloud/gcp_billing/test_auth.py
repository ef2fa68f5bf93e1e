"""Workload identity federation (`external_account`) through real gcloud-aio-auth
against the fake STS: the money is read as the federated principal; a wrong
subject token is refused with a clear message."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from costpipe.errors import AuthError
from costpipe.records import Window
from costpipe.simulator import Simulator
from costpipe.simulator.gcp_billing_api import STS_PATH
from tests.providers_cloud.gcp_billing.conftest import NOW, Factory
from tests.providers_cloud.gcp_billing.test_provider import DAY_START, collect


def federation_file(sim: Simulator, directory: Path, subject: str) -> Path:
    token_file = directory / "oidc-token"
    token_file.write_text(subject)
    config = {
        "type": "external_account",
        "audience": sim.gcp.wif_audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": sim.base_url + STS_PATH,
        "credential_source": {"file": str(token_file)},
    }
    path = directory / "federation.json"
    path.write_text(json.dumps(config))
    return path


async def test_external_account_reads_the_money(
    sim: Simulator, make_provider: Factory, tmp_path: Path
) -> None:
    provider = await make_provider(
        credentials_file=str(federation_file(sim, tmp_path, sim.gcp.federated_subject))
    )
    window = Window(DAY_START, DAY_START + timedelta(hours=6))
    records = await collect(provider, window)
    assert sum(r.cost_usd for r in records) == sum(sim.gcp.truth(window.start, window.end, NOW))
    assert "ran the billing query" in await provider.check_connection()


async def test_a_wrong_subject_token_is_refused(
    sim: Simulator, make_provider: Factory, tmp_path: Path
) -> None:
    provider = await make_provider(
        credentials_file=str(federation_file(sim, tmp_path, "eyJ.not-the-pods-token"))
    )
    with pytest.raises(AuthError, match="Google refused the sign-in with the external account"):
        await provider.check_connection()
