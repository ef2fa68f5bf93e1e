"""The client-secret and workload-identity flows with real azure-identity against the fake Entra token
endpoint on a TLS site (azure-identity refuses a plain-HTTP authority)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from costpipe.errors import AuthError, TransientError
from costpipe.records import Window
from costpipe.simulator import Simulator
from costpipe.simulator.azure_openai_api import add_entra_routes
from costpipe.testing.provider_contract import collect
from tests.providers_cloud.azure_openai.conftest import NOW, MakeFor

DAY = timedelta(days=1)
TODAY = NOW.replace(hour=0, minute=0, second=0)


@pytest.fixture
async def authority(sim: Simulator, tmp_path: Path) -> AsyncIterator[str]:
    """``https://127.0.0.1:P`` serving the token endpoint with a self-signed
    certificate, trusted through the provider's ``ca_file`` (written to
    ``tmp_path/cert.pem``)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(  # noqa: ASYNC221 - once, before the server starts
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    add_entra_routes(app, sim.azure)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_client_secret_signs_in_and_reads_exact_money(
    sim: Simulator, authority: str, make_provider_for: MakeFor, tmp_path: Path
) -> None:
    provider = await make_provider_for(
        sim,
        ca_file=str(tmp_path / "cert.pem"),
        auth="client_secret",
        authority=authority,
        tenant_id=sim.azure.tenant_id,
        client_id=sim.azure.app_client_id,
        client_secret=sim.azure.app_client_secret,
    )
    window = Window(TODAY - 3 * DAY, TODAY)
    records = await collect(provider, window)
    assert sum((r.cost_usd for r in records), Decimal(0)) == sim.azure.truth(
        window.start, window.end, NOW
    )


async def test_wrong_secret_is_an_auth_error_without_the_secret(
    sim: Simulator, authority: str, make_provider_for: MakeFor, tmp_path: Path
) -> None:
    wrong = "Zz9~" + "k" * 36
    provider = await make_provider_for(
        sim,
        ca_file=str(tmp_path / "cert.pem"),
        auth="client_secret",
        authority=authority,
        tenant_id=sim.azure.tenant_id,
        client_id=sim.azure.app_client_id,
        client_secret=wrong,
    )
    with capture_logs() as logs, pytest.raises(AuthError, match="Entra ID refused") as caught:
        await collect(provider, Window(TODAY - DAY, TODAY))
    assert "AADSTS7000215" in str(caught.value)
    assert wrong not in str(caught.value) + repr(logs)
    assert provider.retries == 0


async def test_untrusted_authority_is_a_transient_error(
    sim: Simulator, authority: str, make_provider_for: MakeFor
) -> None:
    """Without the CA the TLS handshake fails: a clear transient error, not a crash."""
    provider = await make_provider_for(
        sim,
        auth="client_secret",
        authority=authority,
        tenant_id=sim.azure.tenant_id,
        client_id=sim.azure.app_client_id,
        client_secret=sim.azure.app_client_secret,
    )
    with pytest.raises(TransientError, match="token endpoint could not be reached"):
        await collect(provider, Window(TODAY - DAY, TODAY))


async def test_workload_identity_exchanges_the_federated_token(
    sim: Simulator, authority: str, make_provider_for: MakeFor, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(sim.azure.federated_token)
    provider = await make_provider_for(
        sim,
        ca_file=str(tmp_path / "cert.pem"),
        auth="workload_identity",
        authority=authority,
        tenant_id=sim.azure.tenant_id,
        client_id=sim.azure.app_client_id,
        federated_token_file=str(token_file),
    )
    window = Window(TODAY - 2 * DAY, TODAY)
    records = await collect(provider, window)
    assert sum((r.cost_usd for r in records), Decimal(0)) == sim.azure.truth(
        window.start, window.end, NOW
    )
