"""The dashboard's login against the real server over HTTP (aiohttp), and the CLI.

* The cookie is ``HttpOnly`` and ``SameSite=Lax`` always, ``Secure`` when the
  request came over HTTPS: behind a proxy only if the server trusts it
  (``X-Forwarded-Proto`` is ignored otherwise).
* A login post from another origin, or with neither ``Origin`` nor
  ``Referer``, is refused with the right password and sets no cookie.
* Failed logins are throttled per client with a clock the test drives (no
  sleeping): 300 wrong passwords in a row get the password checked only a
  handful of times; the lockout doubles; it ends when the clock passes it;
  other clients are not affected (told apart by ``X-Forwarded-For`` only when
  the proxy is trusted).
* ``costpipe dashboard --basic-auth user:pass`` is refused (exit 2) with a
  message naming the safe ways; ``--basic-auth-file`` serves with that login.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest

from costpipe.dashboard.auth import COOKIE, LoginThrottle
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer

from ..dashboard.conftest import NOW
from .dashboard_support import fill, hostile_records, settings_for, sink_spec


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _serve(
    tmp_path: Path, clock: FakeClock, trusted_proxy: bool = False
) -> BackgroundDashboard:
    spec = sink_spec("sqlite", tmp_path / "costs.sqlite")
    await fill(spec, tmp_path, hostile_records())
    server = DashboardServer(
        settings_for(spec, tmp_path),
        port=0,
        basic_auth="finance:pa:ss",
        clock=lambda: NOW,
        trusted_proxy=trusted_proxy,
        throttle=LoginThrottle(clock=clock),
    )
    return BackgroundDashboard(server)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        yield client


async def _login(
    session: aiohttp.ClientSession,
    port: int,
    password: str = "pa:ss",
    headers: dict[str, str] | None = None,
) -> tuple[int, list[str]]:
    """POST /login; the status and the raw ``Set-Cookie`` headers."""
    base = f"http://127.0.0.1:{port}"
    async with session.post(
        f"{base}/login",
        data={"username": "finance", "password": password},
        headers={"Origin": base} if headers is None else headers,
        allow_redirects=False,
    ) as response:
        await response.read()
        return response.status, response.headers.getall("Set-Cookie", [])


def _attributes(set_cookie: list[str]) -> dict[str, str | bool]:
    [header] = [h for h in set_cookie if h.startswith(f"{COOKIE}=")]
    morsel = SimpleCookie(header)[COOKIE]
    return {key: morsel[key] for key in ("httponly", "samesite", "secure", "path")}


async def test_the_cookie_is_httponly_samesite_and_secure_only_over_https(
    tmp_path: Path, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    with await _serve(tmp_path, clock) as port:
        status, cookies = await _login(session, port)
        assert 303 == status
        assert {"httponly": True, "samesite": "Lax", "secure": "", "path": "/"} == _attributes(
            cookies
        )
        # Not trusted: a client claiming HTTPS changes nothing.
        base = f"http://127.0.0.1:{port}"
        status, cookies = await _login(
            session, port, headers={"Origin": base, "X-Forwarded-Proto": "https"}
        )
        assert 303 == status
        assert "" == _attributes(cookies)["secure"]
    (tmp_path / "proxied").mkdir()
    with await _serve(tmp_path / "proxied", clock, trusted_proxy=True) as port:
        status, cookies = await _login(
            session,
            port,
            headers={
                "Origin": "https://costs.example.org",
                "X-Forwarded-Proto": "https",
                "Host": "costs.example.org",
            },
        )
        assert 303 == status
        assert {"httponly": True, "samesite": "Lax", "secure": True, "path": "/"} == _attributes(
            cookies
        )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Referer": "http://attacker.example/login"},
        {"Origin": "http://127.0.0.1:1"},  # another service on this machine
        {},
    ],
    ids=["other-origin", "null-origin", "other-referer", "other-port", "no-origin"],
)
async def test_a_cross_origin_login_post_is_refused_with_the_right_password(
    headers: dict[str, str], tmp_path: Path, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    with await _serve(tmp_path, clock) as port:
        status, cookies = await _login(session, port, headers=headers)
        assert (403, []) == (status, [c for c in cookies if c.startswith(COOKIE)])
        # The same post from the page itself succeeds, so the refusal was the origin.
        referer = {"Referer": f"http://127.0.0.1:{port}/login"}
        assert 303 == (await _login(session, port, headers=referer))[0]


async def test_failed_logins_lock_the_client_out_exponentially(
    tmp_path: Path, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    with await _serve(tmp_path, clock) as port:
        statuses = [(await _login(session, port, password=f"guess{i}"))[0] for i in range(300)]
        # Five free failures, a sixth that starts the lockout, then refusals
        # that never reach the password check.
        assert [401] * 6 + [429] * 294 == statuses
        # Locked: even the right password is not looked at.
        assert 429 == (await _login(session, port))[0]

        clock.now += 1.01  # the first lockout is 1 s
        assert 401 == (await _login(session, port, password="again"))[0]
        assert 429 == (await _login(session, port))[0]
        clock.now += 1.5  # the second is 2 s: not over yet
        assert 429 == (await _login(session, port))[0]
        clock.now += 0.6
        status, cookies = await _login(session, port)
        assert 303 == status
        assert any(c.startswith(f"{COOKIE}=") for c in cookies)
        # A success clears the count: five free failures again.
        statuses = [(await _login(session, port, password="x"))[0] for _ in range(6)]
        assert [401] * 6 == statuses


async def test_retry_after_says_how_long_the_lockout_lasts(
    tmp_path: Path, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    with await _serve(tmp_path, clock) as port:
        base = f"http://127.0.0.1:{port}"
        for _ in range(5):
            assert 401 == (await _login(session, port, password="wrong"))[0]
        waits = []
        for _ in range(4):
            assert 401 == (await _login(session, port, password="wrong"))[0]
            async with session.post(
                f"{base}/login",
                data={"username": "finance", "password": "pa:ss"},
                headers={"Origin": base},
                allow_redirects=False,
            ) as response:
                assert 429 == response.status
                assert "Too many failed logins" in await response.text()
                waits.append(int(response.headers["Retry-After"]))
            clock.now += waits[-1] + 0.01
        assert [1, 2, 4, 8] == waits


@pytest.mark.parametrize("trusted_proxy", [False, True])
async def test_clients_behind_a_trusted_proxy_are_throttled_separately(
    trusted_proxy: bool, tmp_path: Path, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    with await _serve(tmp_path, clock, trusted_proxy=trusted_proxy) as port:
        base = f"http://127.0.0.1:{port}"
        attacker = {"Origin": base, "X-Forwarded-For": "203.0.113.9"}
        for _ in range(10):
            await _login(session, port, password="wrong", headers=attacker)
        colleague = {"Origin": base, "X-Forwarded-For": "198.51.100.7"}
        status, _ = await _login(session, port, headers=colleague)
        # Untrusted, the header is ignored: everyone is the proxy's address.
        assert (303 if trusted_proxy else 429) == status


async def _costpipe_dashboard(config: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "dashboard",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path}"\n'
        f'[[sinks.sqlite]]\npath = "{tmp_path / "costs.sqlite"}"\n'
        "[dashboard]\nport = 0\n",
        encoding="utf-8",
    )
    return config


async def test_a_password_on_the_command_line_is_refused_with_the_safe_ways(
    tmp_path: Path,
) -> None:
    process = await _costpipe_dashboard(_config(tmp_path), "--basic-auth", "finance:hunter2")
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert 2 == process.returncode
    message = stderr.decode()
    assert "--basic-auth-file" in message
    assert "DASHBOARD_AUTH" in message
    assert "hunter2" not in message


async def test_basic_auth_file_serves_with_that_login(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    secret = tmp_path / "dashboard.auth"
    secret.write_text("finance:from-a-file\n", encoding="utf-8")
    process = await _costpipe_dashboard(_config(tmp_path), "--basic-auth-file", str(secret))
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        port = int(line.rsplit(":", 1)[1].strip(" /\n"))
        base = f"http://127.0.0.1:{port}"
        async with session.get(f"{base}/", allow_redirects=False) as response:
            assert 302 == response.status
        assert 401 == (await _login(session, port, password="pa:ss"))[0]
        assert 303 == (await _login(session, port, password="from-a-file"))[0]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert 0 == process.returncode, stderr.decode()


async def test_logout_clears_the_cookie_and_the_page_asks_again(
    tmp_path: Path, clock: FakeClock
) -> None:
    with await _serve(tmp_path, clock) as port:
        base = f"http://127.0.0.1:{port}"
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            assert 303 == (await _login(browser, port))[0]
            async with browser.get(f"{base}/", allow_redirects=False) as response:
                assert 200 == response.status
            async with browser.get(f"{base}/logout", allow_redirects=False) as response:
                assert 303 == response.status
            async with browser.get(f"{base}/", allow_redirects=False) as response:
                assert 302 == response.status
                assert "login" in response.headers["Location"]
