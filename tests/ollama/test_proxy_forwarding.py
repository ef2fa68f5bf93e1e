"""What the proxy forwards without metering, what it refuses, and who a caller is."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from costpipe.providers.ollama.identity import key_id
from costpipe.simulator.ollama_api import FakeOllama
from tests.ollama.conftest import ALICE_TOKEN, BOB_TOKEN, TRAFFIC, Clock, Setup, StartProvider


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", {"model": "missing-model", "messages": [{"role": "user", "content": "x"}]}),
        ("/api/generate", {"model": "missing-model", "prompt": "x"}),
        ("/api/embed", {"model": "missing-model", "input": "x"}),
        ("/v1/chat/completions", {"model": "missing-model", "messages": []}),
        ("/v1/embeddings", {"model": "missing-model", "input": "x"}),
    ],
)
async def test_unknown_model_error_passes_through_unmetered(
    setup: Setup, path: str, body: dict[str, object]
) -> None:
    """Ollama's 404 and its exact error body reach the client; nothing is metered."""
    direct = await setup.post(setup.fake.base_url, path, body, token=None)
    proxied = await setup.post(setup.proxy_url, path, body)
    assert direct == proxied
    assert proxied[0] == 404
    assert b"missing-model" in proxied[2]
    assert await setup.records() == []


@pytest.mark.asyncio
async def test_admin_calls_are_forwarded_not_metered(setup: Setup) -> None:
    """A pull (streamed), the model list and the version pass through; no record."""
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    async with setup.session.post(
        setup.proxy_url + "/api/pull", json={"model": "phi3"}, headers=headers
    ) as response:
        assert response.status == 200
        assert (await response.read()).endswith(b'{"status":"success"}\n')
    for path in ("/api/tags", "/api/version", "/"):
        async with setup.session.get(setup.proxy_url + path, headers=headers) as response:
            direct = await (await setup.session.get(setup.fake.base_url + path)).read()
            assert (200, direct) == (response.status, await response.read())
    assert "phi3:latest" in setup.fake.models
    assert await setup.records() == []


@pytest.mark.asyncio
async def test_model_load_is_not_usage(setup: Setup) -> None:
    """An empty generate or chat (Ollama loads the model, ``done_reason: load``) is
    forwarded and not metered."""
    for path, body in (
        ("/api/generate", {"model": "llama3.2"}),
        ("/api/chat", {"model": "llama3.2", "messages": []}),
    ):
        status, _, answer = await setup.post(setup.proxy_url, path, body)
        assert (200, True) == (status, b'"done_reason":"load"' in answer)
    assert await setup.records() == []


@pytest.mark.asyncio
async def test_unknown_caller_is_refused_before_ollama(setup: Setup) -> None:
    """No token, or a token not in `keys`: 401, and the request never reaches Ollama."""
    before = setup.fake.requests
    body = {"model": "llama3.2", "prompt": "x"}
    for token in (None, "olk-unknown-token-123456"):
        status, _, answer = await setup.post(setup.proxy_url, "/api/generate", body, token=token)
        assert status == 401
        assert b"unknown caller" in answer
    status, _, answer = await setup.post(setup.proxy_url, "/v1/completions", body, token=None)
    assert status == 401
    assert b'"code":"invalid_api_key"' in answer
    assert before == setup.fake.requests
    assert await setup.records() == []


@pytest.mark.asyncio
async def test_anonymous_policy_meters_unknown_callers(
    fake: FakeOllama, start_provider: StartProvider
) -> None:
    clock = Clock(TRAFFIC)
    provider = await start_provider(fake.base_url, clock, unknown_callers="anonymous")
    setup = Setup(fake, provider, clock, await _session())
    try:
        body = {"model": "llama3.2", "prompt": "x", "stream": False}
        assert (await setup.post(setup.proxy_url, "/api/generate", body, token=None))[0] == 200
        unknown = "olk-unknown-token-123456"
        assert (await setup.post(setup.proxy_url, "/api/generate", body, token=unknown))[0] == 200
        records = await setup.records()
    finally:
        await setup.session.close()
    assert sorted((r.user_id, r.api_key_id, r.requests) for r in records) == sorted(
        [("anonymous", "", 1), ("anonymous", key_id(unknown), 1)]
    )


@pytest.mark.asyncio
async def test_identity_header_names_the_user(
    fake: FakeOllama, start_provider: StartProvider
) -> None:
    """A gateway's header names user and project; the token still gives the key hash."""
    clock = Clock(TRAFFIC)
    provider = await start_provider(
        fake.base_url, clock, identity_header="X-Forwarded-User", project_header="X-Project"
    )
    setup = Setup(fake, provider, clock, await _session())
    try:
        headers = {
            "X-Forwarded-User": "carol@example.com",
            "X-Project": "search",
            "Authorization": f"Bearer {BOB_TOKEN}",
        }
        body = {"model": "llama3.2", "prompt": "x", "stream": False}
        async with setup.session.post(
            setup.proxy_url + "/api/generate", json=body, headers=headers
        ) as response:
            assert response.status == 200
        async with setup.session.post(
            setup.proxy_url + "/api/generate", json=body, headers={"X-Forwarded-User": "dave"}
        ) as response:
            assert response.status == 200
        records = await setup.records()
    finally:
        await setup.session.close()
    assert sorted((r.user_id, r.project_id, r.api_key_id) for r in records) == [
        ("carol@example.com", "search", key_id(BOB_TOKEN)),
        ("dave", "", ""),
    ]


@pytest.mark.asyncio
async def test_request_body_over_the_bound_is_refused(
    fake: FakeOllama, start_provider: StartProvider
) -> None:
    clock = Clock(TRAFFIC)
    provider = await start_provider(fake.base_url, clock, max_request_bytes=4096)
    setup = Setup(fake, provider, clock, await _session())
    try:
        before = fake.requests
        body = {"model": "llama3.2", "prompt": "x" * 10_000}
        status, _, _ = await setup.post(setup.proxy_url, "/api/generate", body)
        assert status == 413
        assert before == fake.requests
    finally:
        await setup.session.close()


@pytest.mark.asyncio
async def test_unreachable_upstream_is_a_502(start_provider: StartProvider, free_port: int) -> None:
    clock = Clock(TRAFFIC)
    provider = await start_provider(f"http://127.0.0.1:{free_port}", clock)
    assert provider.proxy is not None
    session = await _session()
    try:
        async with session.post(
            provider.proxy.url + "/api/generate",
            json={"model": "llama3.2", "prompt": "x"},
            headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
        ) as response:
            assert response.status == 502
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_secrets_never_in_logs_or_journal(setup: Setup) -> None:
    """Tokens appear in no log line and no journal byte; the journal keeps their hash."""
    with capture_logs() as logs:
        for token in (ALICE_TOKEN, BOB_TOKEN):
            body = {"model": "llama3.2", "prompt": f"hello {token}"}
            assert (await setup.post(setup.proxy_url, "/api/generate", body, token=token))[0] == 200
        await setup.post(
            setup.proxy_url, "/api/generate", {"model": "x"}, token="olk-wrong-123456789"
        )
        records = await setup.records()
    journal = b"".join(p.read_bytes() for p in setup.provider.journal.directory.iterdir())
    text = repr(logs)
    for token in (ALICE_TOKEN, BOB_TOKEN, "olk-wrong-123456789"):
        assert token not in text
        assert token.encode() not in journal
    assert key_id(ALICE_TOKEN).encode() in journal
    assert {r.api_key_id for r in records} == {key_id(ALICE_TOKEN), key_id(BOB_TOKEN)}


@pytest.mark.asyncio
async def test_not_serving_opens_no_port(fake: FakeOllama, start_provider: StartProvider) -> None:
    """Outside `costpipe run` the provider only reads its journal."""
    provider = await start_provider(fake.base_url, Clock(TRAFFIC), serving=False)
    assert provider.proxy is None


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


@pytest.mark.asyncio
async def test_reload_binds_the_same_port_before_the_old_proxy_stops(
    fake: FakeOllama, start_provider: StartProvider, free_port: int
) -> None:
    """A SIGHUP reload starts the new configuration first: both proxies bind the
    port (SO_REUSEPORT), and once the old one stops the new one serves alone."""
    listen = f"127.0.0.1:{free_port}"
    old = await start_provider(fake.base_url, Clock(TRAFFIC), listen=listen)
    new = await start_provider(fake.base_url, Clock(TRAFFIC), listen=listen)
    await old.close()
    session = await _session()
    try:
        async with session.post(
            f"http://{listen}/api/generate",
            json={"model": "llama3.2", "prompt": "x", "stream": False},
            headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
        ) as response:
            assert response.status == 200
    finally:
        await session.close()
    assert new.proxy is not None
    assert new.proxy.requests_metered == 1


@pytest.mark.asyncio
async def test_an_answer_over_the_metering_bound_passes_whole_and_counts_as_uncounted(
    fake: FakeOllama, start_provider: StartProvider
) -> None:
    """The proxy reads at most max_metered_bytes of an answer for usage: a larger
    one reaches the client unchanged and is one request with tokens unknown."""
    clock = Clock(TRAFFIC)
    provider = await start_provider(fake.base_url, clock, max_metered_bytes=4096)
    setup = Setup(fake, provider, clock, await _session())
    try:
        body = {"model": "nomic-embed-text", "input": [f"passage {i}" for i in range(400)]}
        direct = await setup.post(fake.base_url, "/api/embed", body, token=None)
        proxied = await setup.post(setup.proxy_url, "/api/embed", body)
        records = await setup.records()
    finally:
        await setup.session.close()
    assert len(direct[2]) > 4096
    assert direct == proxied
    assert [("api/embed:uncounted", 1, 0)] == [
        (r.line_item, r.requests, r.uncached_input_tokens) for r in records
    ]


@pytest.mark.asyncio
async def test_check_connection_asks_ollama_for_its_version(
    fake: FakeOllama, start_provider: StartProvider, free_port: int
) -> None:
    from costpipe.errors import TransientError

    provider = await start_provider(fake.base_url, Clock(TRAFFIC), serving=False)
    assert "answered /api/version" in await provider.check_connection()
    down = await start_provider(f"http://127.0.0.1:{free_port}", Clock(TRAFFIC), serving=False)
    with pytest.raises(TransientError, match="unreachable"):
        await down.check_connection()
