"""Shared HTTP behaviour: retries, timeouts, the in-flight bound, redaction.

Retry waits go through a :class:`FakeClock`: they are asserted, never slept."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiohttp import web
from structlog.testing import capture_logs
from yarl import URL

from costpipe.errors import AuthError, TransientError
from costpipe.providers.base import EndpointError, PageError
from costpipe.providers.http.retry import retry_after_seconds
from costpipe.redaction import redact_url
from tests.providers.conftest import MakeClient
from tests.providers.fakes import FakeOpenAI, Serve, json_response


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert retry_after_seconds({"retry-after": "7"}, now) == 7.0
    assert retry_after_seconds({"retry-after": "Fri, 20 Nov 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({"retry-after": "Fri, 20 Nov 2026 11:00:00 GMT"}, now) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}, now) is None
    assert retry_after_seconds({}, now) is None


def test_urls_are_logged_without_credentials() -> None:
    url = URL("https://user:pw@proxy.example/v1/x?api_key=abc&group_by=model")
    text = redact_url(url)
    assert "pw" not in text
    assert "abc" not in text
    assert "group_by=model" in text


async def test_fractions_parse_as_decimal_integers_stay_int(
    serve: Serve, make_client: MakeClient
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text='{"a": 0.1, "b": 3, "c": 1e-7}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/x", handler)
    client, stats = await make_client(await serve(app))
    page = await client.get_json("/x")
    assert {"a": Decimal("0.1"), "b": 3, "c": Decimal("1e-7")} == page.body
    assert isinstance(page.body["b"], int)
    assert stats.pages_fetched == 1


async def test_get_bytes_returns_the_body_undecoded_after_the_same_checks(
    serve: Serve, make_client: MakeClient
) -> None:
    """The typed decoders' path: the bytes as sent (not JSON-checked), the URL without
    credentials; a refusal is still a PageError, a 429 still retried."""
    answers = deque(
        [
            web.Response(status=429, headers={"Retry-After": "0"}),
            web.Response(body=b'{"a": 0.10, not json', content_type="application/json"),
            web.Response(status=400, text="no"),
        ]
    )

    async def handler(request: web.Request) -> web.Response:
        return answers.popleft()

    app = web.Application()
    app.router.add_get("/x", handler)
    client, stats = await make_client(await serve(app))
    raw = await client.get_bytes("/x", [("api_key", "sk-admin-good"), ("limit", "1")])
    assert b'{"a": 0.10, not json' == raw.body
    assert "sk-admin-good" not in raw.url
    assert raw.url.endswith("/x?api_key=***&limit=1")
    assert (1, 1) == (stats.retries, stats.pages_fetched)
    with pytest.raises(PageError, match="HTTP 400"):
        await client.get_bytes("/x")


async def test_retry_after_in_seconds_is_waited_for(serve: Serve, make_client: MakeClient) -> None:
    fake = FakeOpenAI(buckets={"/x": []})
    fake.script["/x"] = deque([lambda: json_response(429, {}, headers={"Retry-After": "1"})])
    client, stats = await make_client(await serve(fake.app()))
    await client.get_json("/x", [("start_time", "0")])
    assert len(fake.requests_to("/x")) == 2
    [wait] = stats.clock.sleeps
    assert 1.0 <= wait <= 1.1  # never earlier than asked, a little jitter after
    assert stats.retries == 1


async def test_without_retry_after_the_wait_doubles_from_retry_backoff(
    serve: Serve, make_client: MakeClient
) -> None:
    fake = FakeOpenAI(buckets={"/x": []})
    fake.script["/x"] = deque([lambda: json_response(500, {})] * 3)
    client, stats = await make_client(await serve(fake.app()), max_retries=3)
    await client.get_json("/x", [("start_time", "0")])
    first, second, third = stats.clock.sleeps
    # Full jitter in the upper half of 1 s, 2 s, 4 s.
    assert (0.5 <= first <= 1.0, 1.0 <= second <= 2.0, 2.0 <= third <= 4.0) == (True,) * 3
    assert stats.retries == 3


async def test_retry_after_is_capped(serve: Serve, make_client: MakeClient) -> None:
    """A Retry-After of an hour waits at most retry_wait_max."""
    fake = FakeOpenAI(buckets={"/x": []})
    fake.script["/x"] = deque([lambda: json_response(429, {}, headers={"Retry-After": "3600"})])
    client, stats = await make_client(await serve(fake.app()), retry_wait_max=timedelta(seconds=5))
    await client.get_json("/x", [("start_time", "0")])
    assert len(fake.requests_to("/x")) == 2
    assert [5.0] == stats.clock.sleeps


async def test_x_should_retry_false_is_respected(serve: Serve, make_client: MakeClient) -> None:
    fake = FakeOpenAI(buckets={"/x": []})
    fake.script["/x"] = deque([lambda: json_response(503, {}, headers={"x-should-retry": "false"})])
    client, stats = await make_client(await serve(fake.app()))
    with pytest.raises(TransientError):
        await client.get_json("/x", [("start_time", "0")])
    assert (len(fake.seen), stats.retries) == (1, 0)


async def test_timeouts_are_retried_then_transient(serve: Serve, make_client: MakeClient) -> None:
    fake = FakeOpenAI(buckets={"/x": []}, delay=0.4)
    client, stats = await make_client(
        await serve(fake.app()), timeout=timedelta(milliseconds=100), max_retries=1
    )
    with pytest.raises(TransientError, match="timed out"):
        await client.get_json("/x", [("start_time", "0")])
    assert (len(fake.seen), stats.retries, len(stats.clock.sleeps)) == (2, 1, 1)


async def test_connection_errors_are_retried_then_transient(make_client: MakeClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    client, stats = await make_client(f"http://127.0.0.1:{port}", max_retries=2)
    with pytest.raises(TransientError, match="connection failed"):
        await client.get_json("/x")
    assert stats.retries == 2


async def test_requests_in_flight_are_bounded_by_the_shared_slots(
    serve: Serve, make_client: MakeClient
) -> None:
    fake = FakeOpenAI(buckets={"/x": []}, delay=0.05)
    client, _ = await make_client(await serve(fake.app()), slots=2)
    await asyncio.gather(*(client.get_json("/x", [("start_time", "0")]) for _ in range(8)))
    assert len(fake.seen) == 8
    assert fake.max_in_flight == 2


async def test_other_4xx_is_a_page_error_not_retried(serve: Serve, make_client: MakeClient) -> None:
    fake = FakeOpenAI(buckets={"/x": []})
    fake.script["/x"] = deque([lambda: json_response(400, {"error": {"message": "bad limit"}})])
    client, stats = await make_client(await serve(fake.app()))
    with pytest.raises(PageError, match="HTTP 400: bad limit"):
        await client.get_json("/x", [("start_time", "0")])
    assert stats.retries == 0


async def test_a_404_is_a_configuration_error_naming_the_url(
    serve: Serve, make_client: MakeClient
) -> None:
    fake = FakeOpenAI(buckets={})
    client, stats = await make_client(await serve(fake.app()))
    with pytest.raises(EndpointError) as caught:
        await client.get_json("/missing", [("start_time", "0")])
    message = str(caught.value)
    assert f"{client.base_url}/missing answered HTTP 404" in message
    assert "Check the config key `base_url` of test.one" in message
    assert (len(fake.seen), stats.retries) == (1, 0)


async def test_an_echoed_key_is_masked_in_auth_errors(
    serve: Serve, make_client: MakeClient
) -> None:
    async def handler(request: web.Request) -> web.Response:
        auth = request.headers["Authorization"].removeprefix("Bearer ")
        return json_response(401, {"error": {"message": f"Incorrect API key provided: {auth}"}})

    app = web.Application()
    app.router.add_get("/x", handler)
    client, _ = await make_client(await serve(app))
    with pytest.raises(AuthError) as caught:
        await client.get_json("/x")
    message = str(caught.value)
    assert "sk-admin-good" not in message
    assert "$TEST_KEY" in message
    assert "an Admin key is needed" in message


async def test_disabling_tls_verification_logs_a_warning(make_client: MakeClient) -> None:
    with capture_logs() as logs:
        await make_client("https://127.0.0.1:1", verify_tls=False)
    assert [e["event"] for e in logs] == ["tls_verification_disabled"]
