"""The dashboard's login: one user and password, a signed cookie, no third party.

:class:`LoginProvider` plugs into the Bokeh server (``auth_provider=``) in
place of Panel's basic-auth provider, whose login page loads its logo from a
CDN, compares passwords with ``==``, accepts cross-origin form posts and any
number of wrong passwords, and sets a cookie without ``SameSite``. Here:

* the password is compared in constant time;
* a login POST whose ``Origin`` (or, without one, ``Referer``) is not this
  server's host or the configured public URL is refused (403) before the
  password is looked at: another site cannot log a browser in or probe it;
* failed logins are counted per client address (:class:`LoginThrottle`): after
  a few free attempts each further failure locks the client out for twice as
  long as the last, answered ``429`` with ``Retry-After`` and never checked;
* the ``user`` cookie is signed, ``HttpOnly``, ``SameSite=Lax``, and ``Secure``
  when the request came over HTTPS. Behind a TLS proxy the server only believes
  ``X-Forwarded-Proto`` (and ``X-Forwarded-For`` for the throttle) when it was
  started with ``trusted_proxy`` (tornado's ``xheaders``).

Every route but ``/login`` and Panel's static files needs the cookie, including
the Bokeh websocket (Bokeh asks :attr:`LoginProvider.get_user`).
"""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bokeh.server.auth_provider import AuthProvider, User
from tornado.httputil import HTTPServerRequest
from tornado.web import RequestHandler

from costpipe.dashboard.render import render
from costpipe.errors import ConfigError

__all__ = ["COOKIE", "Credentials", "LoginProvider", "LoginThrottle", "same_origin"]

#: The signed cookie that carries the logged-in user name.
COOKIE = "costpipe_user"
#: A login lasts a working day; then the page asks again.
SESSION_DAYS = 1


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one account that may open the dashboard."""

    user: str
    password: str

    @classmethod
    def parse(cls, value: str) -> Credentials:
        """``"user:password"``; the password may contain ``:``."""
        user, sep, password = value.partition(":")
        if not sep or not user or not password:
            raise ConfigError("dashboard.basic_auth", 'expected "user:password"')
        return cls(user, password)

    def match(self, user: str, password: str) -> bool:
        # Both compared, in constant time, so timing says nothing about either.
        same_user = hmac.compare_digest(user.encode(), self.user.encode())
        same_password = hmac.compare_digest(password.encode(), self.password.encode())
        return same_user and same_password


class LoginThrottle:
    """Failed logins per client, with an exponential lockout.

    ``free`` failures cost nothing; the next locks the client for ``base``
    seconds, each further one for twice as long, up to ``cap``. A success
    clears the client's count. At most ``max_clients`` are remembered (the
    oldest first forgotten), so a flood of addresses cannot grow memory.
    ``clock`` returns seconds (monotonic); tests pass their own.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        free: int = 5,
        base: float = 1.0,
        cap: float = 900.0,
        max_clients: int = 10_000,
    ) -> None:
        self._clock = clock
        self._free = free
        self._base = base
        self._cap = cap
        self._max_clients = max_clients
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds until *client* may try again; 0 when it may now."""
        _count, until = self._failures.get(client, (0, 0.0))
        return max(0.0, until - self._clock())

    def failed(self, client: str) -> None:
        count, _until = self._failures.pop(client, (0, 0.0))
        count += 1
        excess = count - self._free
        lock = 0.0 if excess <= 0 else min(self._cap, self._base * 2 ** min(excess - 1, 32))
        self._failures[client] = (count, self._clock() + lock)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def _netloc(url: str) -> str | None:
    """``host:port`` of *url*, default ports made explicit, lower-cased."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    default = 443 if parts.scheme == "https" else 80
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port or default}".lower()


def same_origin(headers: Any, public_url: str | None) -> bool:
    """Whether a form post comes from a page of this server.

    The ``Origin`` header (``Referer`` when a browser sends no ``Origin``) must
    name the host the request was sent to (``Host``), or the public URL. A post
    that carries neither header is refused too: browsers always send one, so
    only a forged or stripped request lacks both.
    """
    source = headers.get("Origin") or headers.get("Referer")
    claimed = _netloc(source) if source else None
    if claimed is None:  # absent, "null" (sandboxed or opaque origin), or garbled
        return False
    host = headers.get("Host", "")
    # Host and port only: behind a TLS proxy the page is https while this server
    # sees http, so the Host header is accepted with either scheme's default port.
    allowed = {_netloc(f"http://{host}"), _netloc(f"https://{host}")}
    if public_url:
        allowed.add(_netloc(public_url))
    return claimed in allowed


class _LoginHandler(RequestHandler):
    """GET: the form. POST: check origin, throttle, credentials; set the cookie."""

    provider: LoginProvider

    def get(self) -> None:
        self._form()

    def post(self) -> None:
        provider = self.provider
        if not same_origin(self.request.headers, provider.public_url):
            self._form("This login form was posted from another site.", status=403)
            return
        client = self.request.remote_ip or "unknown"
        wait = provider.throttle.retry_after(client)
        if wait > 0:
            seconds = math.ceil(wait)
            self.set_header("Retry-After", str(seconds))
            self._form(f"Too many failed logins: try again in {seconds} s.", status=429)
            return
        user = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        if not provider.credentials.match(user, password):
            provider.throttle.failed(client)
            self._form("Invalid username or password.", status=401)
            return
        provider.throttle.succeeded(client)
        self.set_signed_cookie(
            COOKIE,
            user,
            expires_days=None,  # a session cookie; the signature expires after a day
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",
            path="/",
        )
        self.redirect("./", status=303)

    def _form(self, error: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        self.finish(render("login.html", title=self.provider.title, error=error))


class _LogoutHandler(RequestHandler):
    def get(self) -> None:
        self.clear_cookie(COOKIE, path="/")
        self.redirect("login", status=303)


class LoginProvider(AuthProvider):
    """Bokeh auth provider: the cookie set by ``/login`` or a redirect there."""

    def __init__(
        self,
        credentials: Credentials,
        throttle: LoginThrottle | None = None,
        public_url: str | None = None,
        title: str = "costpipe",
    ) -> None:
        self.credentials = credentials
        self.throttle = throttle or LoginThrottle()
        self.public_url = public_url
        self.title = title
        # One handler class per provider: Bokeh instantiates handlers itself and
        # passes no arguments, so the provider travels as a class attribute.
        self._login = type("LoginHandler", (_LoginHandler,), {"provider": self})
        super().__init__()

    @property
    def get_user(self) -> Callable[[HTTPServerRequest], User]:
        # Bokeh's annotation says request; what it passes is the request handler.
        def user(handler: Any) -> User:
            value = handler.get_signed_cookie(COOKIE, max_age_days=SESSION_DAYS)
            return User(None if value is None else value.decode("utf-8", "replace"))

        return user

    @property
    def login_url(self) -> str:
        return "/login"

    @property
    def login_handler(self) -> type[RequestHandler]:
        return self._login

    @property
    def logout_url(self) -> str:
        return "/logout"

    @property
    def logout_handler(self) -> type[RequestHandler]:
        return _LogoutHandler
