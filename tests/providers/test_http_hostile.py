"""A hostile or broken provider: redirects, huge and compressed bodies, echoed keys.

Each test reproduces an attack from the security review (issue 13) against real
loopback servers: a redirect must never carry the key to another host, a body
is refused past its limit with memory bounded by that limit, and text echoed by
a server is masked before it is cut.
"""

from __future__ import annotations

import functools
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.errors import TransientError
from costpipe.providers.anthropic import COST_PATH, AnthropicConfig, AnthropicProvider
from costpipe.providers.base import EndpointError, PageError
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.records import Window
from costpipe.testing import collect
from tests.providers.conftest import MakeClient
from tests.providers.fakes import Serve, json_response

MiB = 1024 * 1024
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
ADMIN_KEY = "sk-ant-admin01-hostiletest"


class Recorder:
    """A second server: records every request it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.requests.append((request.path_qs, dict(request.headers)))
            return json_response(200, {"data": [], "has_more": False})

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        return app


def redirecting(status: int, location: str) -> web.Application:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def anthropic(
    base_url: str, tmp_path: Path, context: Callable[..., ComponentContext], **options: object
) -> AnthropicProvider:
    config = AnthropicConfig(
        api_key=SecretStr(ADMIN_KEY), base_url=base_url, max_retries=0, **options
    )
    return AnthropicProvider(config, context("anthropic.prod"), clock=lambda: NOW)


# -- redirects (13.2) ------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_never_followed_and_names_its_target(
    serve: Serve, make_context: Callable[..., ComponentContext], tmp_path: Path, status: int
) -> None:
    other = Recorder()
    elsewhere = await serve(other.app())
    target = f"{elsewhere}/steal?from=costpipe"
    provider = anthropic(await serve(redirecting(status, target)), tmp_path, make_context)
    await provider.start()
    try:
        with pytest.raises(EndpointError) as caught:
            await collect(provider, DAY)
    finally:
        await provider.close()
    assert [] == other.requests  # the key never reached the other host
    message = str(caught.value)
    assert f"HTTP {status}, a redirect to {target}" in message
    assert "set `base_url` of anthropic.prod" in message
    assert ADMIN_KEY not in message
    # A configuration error fails the pass: nothing is set aside or retried.
    assert (provider.pages_set_aside, provider.retries, provider.pages_fetched) == (0, 0, 0)


async def test_a_redirect_target_is_shown_without_its_credentials(
    serve: Serve, make_client: MakeClient
) -> None:
    other = Recorder()
    elsewhere = (await serve(other.app())).removeprefix("http://")
    location = f"http://thief:pw-in-location@{elsewhere}/x?token=tok-in-location&page=2"
    client, _ = await make_client(await serve(redirecting(302, location)))
    with pytest.raises(EndpointError) as caught:
        await client.get_json("/v1/organizations/cost_report")
    message = str(caught.value)
    assert f"a redirect to http://{elsewhere}/x?token=***&page=2" in message
    assert "pw-in-location" not in message
    assert "tok-in-location" not in message
    assert [] == other.requests


async def test_a_relative_redirect_is_named_as_an_absolute_url(
    serve: Serve, make_client: MakeClient
) -> None:
    base = await serve(redirecting(302, "/elsewhere"))
    client, _ = await make_client(base)
    with pytest.raises(EndpointError, match=f"a redirect to {base}/elsewhere"):
        await client.get_json("/x")


# -- response size (13.4) -----------------------------------------------------------------


class Streamer:
    """Streams *total* bytes of a JSON-looking body in 1 MiB chunks, chunked
    (no Content-Length), and counts what it managed to send."""

    def __init__(self, total: int, declare_length: bool = False) -> None:
        self.total = total
        self.declare_length = declare_length
        self.sent = 0

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            if self.declare_length:
                response.content_length = self.total
            await response.prepare(request)
            chunk = b'{"data": [' + b" " * (MiB - 10)
            try:
                while self.sent < self.total:
                    await response.write(chunk)
                    self.sent += len(chunk)
            except (ConnectionError, RuntimeError):
                pass  # the client hung up, as it should
            return response

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        return app


@functools.cache
def compression_bomb(inflated: int, gzip: bool = True) -> bytes:
    """A gzip (or zlib, HTTP's "deflate") stream of *inflated* zero bytes, about a
    thousandth of that on the wire: one 1 MiB block compressed after a full flush
    (which makes it stand alone) and repeated, with a valid header and trailer."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(MiB)
    block = squeeze.compress(zeros) + squeeze.flush(zlib.Z_FULL_FLUSH)
    blocks = inflated // MiB
    check = 0 if gzip else 1
    for _ in range(blocks):
        check = zlib.crc32(zeros, check) if gzip else zlib.adler32(zeros, check)
    if gzip:
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        trailer = struct.pack("<II", check, (blocks * MiB) & 0xFFFFFFFF)
    else:
        header, trailer = b"\x78\xda", struct.pack(">I", check)
    return header + block * blocks + squeeze.flush(zlib.Z_FINISH) + trailer


async def test_a_200_mib_body_fails_at_a_1_mib_limit_with_memory_bounded(
    serve: Serve, make_client: MakeClient
) -> None:
    streamer = Streamer(200 * MiB)
    client, stats = await make_client(await serve(streamer.app()), max_response_bytes=MiB)
    tracemalloc.start()
    try:
        with pytest.raises(PageError) as caught:
            await client.get_json("/x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "response larger than 1 MiB after decompression (max_response_bytes)" in str(
        caught.value
    )
    # Server and client together held a few MiB at most, never the 200 MiB body.
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert streamer.sent < 100 * MiB
    assert (stats.pages_fetched, stats.retries) == (0, 0)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    serve: Serve, make_client: MakeClient
) -> None:
    streamer = Streamer(200 * MiB, declare_length=True)
    client, _ = await make_client(await serve(streamer.app()), max_response_bytes=MiB)
    with pytest.raises(PageError, match="response larger than 1 MiB"):
        await client.get_json("/x")
    assert streamer.sent < 100 * MiB


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_refused_after_inflating_the_limit(
    serve: Serve, make_client: MakeClient, encoding: str
) -> None:
    bomb = compression_bomb(200 * MiB, gzip=encoding == "gzip")

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": encoding, "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/x", handle)
    client, _ = await make_client(await serve(app), max_response_bytes=MiB)
    tracemalloc.start()
    try:
        with pytest.raises(PageError, match="larger than 1 MiB after decompression"):
            await client.get_json("/x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_a_refused_body_costs_about_the_limit_not_twice_it(
    serve: Serve, make_client: MakeClient, encoding: str
) -> None:
    """A body held as one growing buffer, or a bomb inflated in one call, briefly
    holds two copies (measured 128 MiB at the 64 MiB default); pieces do not."""
    limit = 16 * MiB
    if encoding == "gzip":
        bomb = compression_bomb(200 * MiB)

        async def handle(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

        app = web.Application()
        app.router.add_get("/x", handle)
    else:
        app = Streamer(200 * MiB).app()
    client, _ = await make_client(await serve(app), max_response_bytes=limit)
    tracemalloc.start()
    try:
        with pytest.raises(PageError, match="larger than 16 MiB"):
            await client.get_json("/x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit + 4 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_a_compressed_page_within_the_limit_is_read(
    serve: Serve, make_client: MakeClient
) -> None:
    async def handle(_request: web.Request) -> web.Response:
        body = zlib.compress(b'{"data": [1, 2.5]}', 9, wbits=zlib.MAX_WBITS | 16)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/x", handle)
    client, _ = await make_client(await serve(app), max_response_bytes=1024)
    page = await client.get_json("/x")
    assert [1, 2.5] == [float(v) for v in page.body["data"]]


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"Content-Encoding": "br"}, b"{}", "unsupported Content-Encoding 'br'"),
        ({"Content-Encoding": "gzip"}, b"not gzip at all", "corrupt gzip body"),
        ({"Content-Encoding": "gzip"}, compression_bomb(2 * MiB)[:100], "truncated gzip body"),
    ],
)
async def test_an_undecodable_body_is_a_page_error(
    serve: Serve, make_client: MakeClient, headers: dict[str, str], body: bytes, reason: str
) -> None:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/x", handle)
    client, _ = await make_client(await serve(app))
    with pytest.raises(PageError, match=reason):
        await client.get_json("/x")


async def test_an_oversized_page_is_set_aside_and_the_rest_of_the_window_arrives(
    serve: Serve, make_context: Callable[..., ComponentContext]
) -> None:
    bomb = compression_bomb(64 * MiB)
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path.endswith("/organization/costs"):
            return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})
        return json_response(200, {"object": "page", "data": [], "has_more": False})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    base = await serve(app)
    config = OpenAIConfig(
        api_key=SecretStr("sk-admin-good"), base_url=base + "/v1", max_response_bytes=MiB
    )
    provider = OpenAIProvider(config, make_context(), clock=lambda: NOW)
    await provider.start()
    try:
        with capture_logs() as logs:
            await collect(provider, DAY)
    finally:
        await provider.close()
    assert provider.pages_set_aside == 1
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert "/v1/organization/costs" in aside["url"]
    assert "larger than 1 MiB after decompression" in aside["reason"]
    assert {"/v1/organization/usage/completions", "/v1/organization/usage/embeddings"} <= set(seen)


# -- masking before cutting (13.8) -----------------------------------------------------------

# A credential that does not look like a provider key: only masking by value finds it.
TOKEN = "gwtok-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@pytest.mark.parametrize(
    ("status", "json_body", "error"),
    [(400, False, PageError), (400, True, PageError), (500, False, TransientError)],
)
async def test_a_key_straddling_the_cut_is_masked_whole(
    serve: Serve,
    make_client: MakeClient,
    status: int,
    json_body: bool,
    error: type[Exception],
) -> None:
    text = "E" * 190 + TOKEN + " was refused"  # the key spans the 200th character

    async def handle(_request: web.Request) -> web.Response:
        if json_body:
            return json_response(status, {"error": {"message": text}})
        return web.Response(status=status, text=text)

    app = web.Application()
    app.router.add_get("/x", handle)
    client, _ = await make_client(await serve(app), secrets=(TOKEN,), max_retries=0)
    with pytest.raises(error) as caught:
        await client.get_json("/x")
    message = str(caught.value)
    assert "E" * 150 in message  # the excerpt is there...
    assert "gwtok" not in message  # ...and no part of the key
    assert "***" in message


# -- credentials in base_url (13.7) -----------------------------------------------------------


async def test_credentials_in_base_url_reach_no_log_or_error(
    serve: Serve, make_context: Callable[..., ComponentContext], tmp_path: Path
) -> None:
    async def handle(request: web.Request) -> web.Response:
        if "ending_at" not in request.query:  # check_connection
            return json_response(200, {"data": [], "has_more": False})
        if request.path == COST_PATH:
            return web.Response(status=200, text="not json")  # set aside
        return web.Response(status=500, text="down")  # usage: retries run out

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    base = (await serve(app)).replace("http://", "http://proxyuser:pw-in-base-url@")
    provider = anthropic(base, tmp_path, make_context, verify_tls=False)
    with capture_logs() as logs:
        await provider.start()
        try:
            checked = await provider.check_connection()
            with pytest.raises(TransientError) as caught:
                await collect(provider, DAY)
            shown = [checked, str(caught.value), provider.http.base_url]
        finally:
            await provider.close()
    events = {e["event"] for e in logs}
    assert {"tls_verification_disabled", "page_set_aside"} <= events
    everything = repr(logs) + repr(shown)
    assert "pw-in-base-url" not in everything
    assert "proxyuser" not in everything


async def test_credentials_in_base_url_of_a_bearer_provider_are_a_clear_error(
    serve: Serve, make_context: Callable[..., ComponentContext]
) -> None:
    base = (await serve(Recorder().app())).replace("http://", "http://u:pw-in-base-url@")
    config = OpenAIConfig(api_key=SecretStr("sk-admin-good"), base_url=base + "/v1")
    provider = OpenAIProvider(config, make_context(), clock=lambda: NOW)
    await provider.start()
    try:
        with pytest.raises(EndpointError) as caught:
            await collect(provider, DAY)
    finally:
        await provider.close()
    message = str(caught.value)
    assert "carries `user:password@`" in message
    assert "pw-in-base-url" not in message
