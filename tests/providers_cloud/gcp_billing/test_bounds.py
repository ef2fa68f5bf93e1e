"""Untrusted answers within bounds: an oversized page is set aside, endless paging
stops at max_pages, a job that never completes stops at max_polls, a refused key
fails at once with a clear message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costpipe.errors import AuthError, TransientError
from costpipe.providers.http.paging import PagingLimitError
from costpipe.records import Window
from costpipe.simulator import Simulator
from tests.providers_cloud.gcp_billing.conftest import Factory
from tests.providers_cloud.gcp_billing.test_provider import DAY_START, collect

SPAN = Window(DAY_START, DAY_START + timedelta(hours=12))


async def test_oversized_page_is_set_aside_not_fatal(make_provider: Factory) -> None:
    provider = await make_provider(max_response_bytes=2048)
    records = await collect(provider, SPAN)
    assert records == []
    assert provider.pages_set_aside == 1


async def test_paging_stops_at_max_pages(sim: Simulator, make_provider: Factory) -> None:
    sim.gcp.page_rows = 2
    provider = await make_provider(max_pages=3)
    with pytest.raises(PagingLimitError):
        await collect(provider, SPAN)
    # Three pages were asked for the one span, no more.
    assert provider.pages_fetched <= 3 + sim.gcp.incomplete_polls


async def test_a_job_that_never_completes_stops_at_max_polls(
    sim: Simulator, make_provider: Factory
) -> None:
    sim.gcp.incomplete_polls = 10**6
    sim.gcp.throttle_every = 0
    provider = await make_provider(max_polls=4)
    with pytest.raises(TransientError, match="max_polls"):
        await collect(provider, SPAN)
    assert sim.gcp.polls == 5  # the first answer and four polls


async def test_a_refused_key_fails_at_once(sim: Simulator, make_provider: Factory) -> None:
    provider = await make_provider()
    sim.gcp.public_keys.clear()  # Google no longer knows the key (deleted)
    with pytest.raises(AuthError, match="Google refused the sign-in") as caught:
        await provider.check_connection()
    assert "PRIVATE KEY" not in str(caught.value)
