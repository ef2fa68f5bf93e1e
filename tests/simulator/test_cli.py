"""``costpipe simulate`` arguments and serving loop."""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, datetime

import aiohttp
import pytest

from costpipe.simulator.cli import add_arguments, options_from_args, run_from_args


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_arguments_become_options_and_faults() -> None:
    options = options_from_args(
        _parse("--seed", "9", "--now", "2026-03-11T15:00:00Z", "--users", "50", "--rate-429", "0.25",
               "--malformed-page", "3", "--revoke-key", "10", "--latency-ms", "5", "--no-awkward")
    )  # fmt: skip
    assert options.seed == 9
    assert datetime(2026, 3, 11, 15, tzinfo=UTC) == options.now
    assert options.users == 50
    assert options.awkward is False
    assert (
        options.faults.rate_429,
        options.faults.malformed_page,
        options.faults.revoke_key,
        options.faults.latency_ms,
    ) == (0.25, 3, 10, 5)


def test_hostile_flags_become_options_and_faults() -> None:
    options = options_from_args(
        _parse("--hostile-names", "--redirect-to", "http://attacker.invalid/", "--endless-pages",
               "--oversized-page-bytes", "1000000", "--gzip-bomb-bytes", "2000000")
    )  # fmt: skip
    assert options.hostile_names is True
    assert (
        options.faults.redirect_to,
        options.faults.endless_pages,
        options.faults.oversized_page_bytes,
        options.faults.gzip_bomb_bytes,
    ) == ("http://attacker.invalid/", True, 1_000_000, 2_000_000)
    plain = options_from_args(_parse())
    assert plain.hostile_names is False
    assert (plain.faults.redirect_to, plain.faults.endless_pages) == (None, False)


@pytest.mark.parametrize("argv", [("--rate-429", "1.5"), ("--now", "2026-03-11T15:00:00")])
def test_invalid_arguments_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)


async def test_run_from_args_serves_until_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(run_from_args(_parse("--port", "0", "--seed", "5")))
    printed = ""
    while "control" not in printed:
        await asyncio.sleep(0.01)
        assert not task.done()
        printed += capsys.readouterr().out
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", printed)
    assert match
    assert "sk-admin-" in printed
    async with (
        aiohttp.ClientSession() as session,
        session.get(match.group(1) + "/_sim/info") as response,
    ):
        info = await response.json()
    assert info["seed"] == 5
    assert info["openai"]["base_url"] == match.group(1) + "/v1"
    assert info["openrouter"]["base_url"] == match.group(1) + "/api/v1"
    assert info["openrouter"]["management_key"] in printed
    assert info["litellm"]["master_key"] in printed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_banner_says_how_to_sign_in_to_the_cloud_fakes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Azure's managed identity and GCP's metadata server, with exactly what the banner prints."""
    task = asyncio.create_task(run_from_args(_parse("--port", "0", "--seed", "5")))
    printed = ""
    while "control" not in printed:
        await asyncio.sleep(0.01)
        assert not task.done()
        printed += capsys.readouterr().out
    endpoint = re.search(r"IDENTITY_ENDPOINT=(\S+)", printed)
    header = re.search(r"IDENTITY_HEADER=(\S+)", printed)
    metadata = re.search(r"GCE_METADATA_HOST=(\S+)", printed)
    scope = re.search(r"scope (/subscriptions/\S+)", printed)
    assert endpoint, printed
    assert header, printed
    assert metadata, printed
    assert scope, printed
    msi = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    gcp = f"http://{metadata.group(1)}/computeMetadata/v1/instance/service-accounts/default/token"
    async with aiohttp.ClientSession() as session:
        async with session.get(endpoint.group(1), params=msi) as refused:
            assert refused.status == 401  # the header is what authenticates
        headers = {"X-IDENTITY-HEADER": header.group(1)}
        async with session.get(endpoint.group(1), params=msi, headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["access_token"]
        async with session.get(gcp, headers={"Metadata-Flavor": "Google"}) as response:
            assert response.status == 200
            assert (await response.json())["access_token"].startswith("ya29.")
        async with session.get(endpoint.group(1).split("/azure/")[0] + "/_sim/info") as response:
            info = await response.json()
    assert info["azure_openai"]["scope"] == scope.group(1)
    assert info["gcp_billing"]["table"] in printed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
