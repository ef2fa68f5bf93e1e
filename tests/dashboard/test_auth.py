"""The login's parts without a server: credentials, throttle, origin check."""

from __future__ import annotations

import pytest

from costpipe.dashboard.auth import Credentials, LoginThrottle, same_origin
from costpipe.errors import ConfigError


def test_credentials_parse_user_and_a_password_with_colons() -> None:
    credentials = Credentials.parse("finance:s3:cr:et")
    assert ("finance", "s3:cr:et") == (credentials.user, credentials.password)
    assert credentials.match("finance", "s3:cr:et")
    assert not credentials.match("finance", "s3:cr:e")
    assert not credentials.match("Finance", "s3:cr:et")
    for bad in ("finance", ":pw", "finance:", ""):
        with pytest.raises(ConfigError):
            Credentials.parse(bad)


def test_the_throttle_doubles_the_lockout_up_to_its_cap_and_forgets_on_success() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0], free=2, base=1.0, cap=4.0)
    locks = []
    for _ in range(6):
        throttle.failed("a")
        locks.append(throttle.retry_after("a"))
    assert [0.0, 0.0, 1.0, 2.0, 4.0, 4.0] == locks
    assert 0.0 == throttle.retry_after("b")
    now[0] += 4.0
    assert 0.0 == throttle.retry_after("a")
    throttle.succeeded("a")
    throttle.failed("a")
    assert 0.0 == throttle.retry_after("a")


def test_the_throttle_remembers_a_bounded_number_of_clients() -> None:
    throttle = LoginThrottle(clock=lambda: 0.0, free=0, max_clients=100)
    for index in range(1000):
        throttle.failed(f"10.0.{index // 256}.{index % 256}")
    assert 0.0 == throttle.retry_after("10.0.0.0")  # the oldest were forgotten
    assert 0.0 < throttle.retry_after("10.0.3.231")  # the newest are remembered


@pytest.mark.parametrize(
    ("headers", "public", "expected"),
    [
        ({"Host": "127.0.0.1:5006", "Origin": "http://127.0.0.1:5006"}, None, True),
        ({"Host": "127.0.0.1:5006", "Referer": "http://127.0.0.1:5006/login"}, None, True),
        ({"Host": "costs.example.org", "Origin": "https://costs.example.org"}, None, True),
        (
            {"Host": "10.0.0.5:5006", "Origin": "https://costs.example.org"},
            "https://costs.example.org",
            True,
        ),
        ({"Host": "127.0.0.1:5006", "Origin": "http://127.0.0.1:5007"}, None, False),
        ({"Host": "127.0.0.1:5006", "Origin": "http://evil.example"}, None, False),
        ({"Host": "127.0.0.1:5006", "Origin": "null"}, None, False),
        ({"Host": "127.0.0.1:5006", "Origin": "javascript:alert(1)"}, None, False),
        ({"Host": "127.0.0.1:5006"}, None, False),
        (
            {"Host": "costs.example.org", "Origin": "https://costs.example.org.evil.example"},
            None,
            False,
        ),
    ],
)
def test_same_origin_accepts_only_this_host_or_the_public_url(
    headers: dict[str, str], public: str | None, expected: bool
) -> None:
    assert expected is same_origin(headers, public)
