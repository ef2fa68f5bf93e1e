"""Small fake OpenAI and Anthropic servers for precise edge cases.

Each fake serves bucket data it is given, paginates by bucket with a page
size of its own (smaller than ``limit`` to force several pages), checks the
credential the way the real API does, records every request, and replays
scripted responses (429, 500, malformed pages) before its normal answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from costpipe.providers.http.retry import Timer

Scripted = Callable[[], web.Response]


@dataclass
class Seen:
    path: str
    query: MultiDictProxy[str]
    headers: dict[str, str]
    at: float


def _dumps(body: Any) -> str:
    # Decimal values are written as bare JSON numbers with exactly their digits,
    # the way a server's float text reaches the client.
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"@@NUM:{value}@@"
        raise TypeError(type(value))

    return re.sub(r'"@@NUM:([^@]+)@@"', r"\1", json.dumps(body, default=mark))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=_dumps(body), content_type="application/json", headers=headers
    )


def _cursor(index: int) -> str:
    return "page_" + base64.b64encode(str(index).encode()).decode()


def _index(cursor: str) -> int:
    return int(base64.b64decode(cursor.removeprefix("page_")).decode())


@dataclass
class FakeAPI:
    """Shared machinery; subclasses define auth, time parsing and envelopes."""

    page_size: int = 1000
    buckets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """path -> buckets in the provider's own wire shape, ordered by time."""
    script: dict[str, deque[Scripted]] = field(default_factory=dict)
    """path -> responses served (one per request) before the normal answer."""
    bad_pages: dict[tuple[str, int], str] = field(default_factory=dict)
    """(path, page index) -> raw body served instead of that page."""
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, request.query, dict(request.headers), time.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            refused = self.refuse(request)
            if refused is not None:
                return refused
            queue = self.script.get(request.path)
            if queue:
                return queue.popleft()()
            if request.path not in self.buckets:
                return json_response(404, {"error": {"message": "not found"}})
            return self.page(request)
        finally:
            self.in_flight -= 1

    def page(self, request: web.Request) -> web.Response:
        start, end = self.bounds(request)
        matching = [
            b
            for b in self.buckets[request.path]
            if start <= self.start_of(b) and self.end_of(b) <= end
        ]
        limit = int(request.query.get("limit", "7"))
        size = min(limit, self.page_size)
        cursor = request.query.get("page")
        index = _index(cursor) if cursor else 0
        page_no = index // size if size else 0
        raw = self.bad_pages.get((request.path, page_no))
        if raw is not None:
            return web.Response(status=200, text=raw, content_type="application/json")
        chunk = matching[index : index + size]
        more = index + size < len(matching)
        return json_response(
            200,
            {
                **self.envelope_extra(),
                "data": chunk,
                "has_more": more,
                "next_page": _cursor(index + size) if more else None,
            },
        )

    # -- provider specifics ----------------------------------------------------------
    def refuse(self, request: web.Request) -> web.Response | None:
        raise NotImplementedError

    def bounds(self, request: web.Request) -> tuple[datetime, datetime]:
        raise NotImplementedError

    def start_of(self, bucket: dict[str, Any]) -> datetime:
        raise NotImplementedError

    def end_of(self, bucket: dict[str, Any]) -> datetime:
        raise NotImplementedError

    def envelope_extra(self) -> dict[str, Any]:
        return {}


class FakeOpenAI(FakeAPI):
    """Admin key ``sk-admin-good``; ``sk-proj-...`` gets 403, anything else 401."""

    def refuse(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if auth == "Bearer sk-admin-good":
            return None
        if auth.startswith("Bearer sk-proj-"):
            message = "You have insufficient permissions for this operation. Missing scopes: api.usage.read."
            return json_response(
                403,
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        key = auth.removeprefix("Bearer ")
        message = f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."
        return json_response(
            401,
            {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
        )

    def bounds(self, request: web.Request) -> tuple[datetime, datetime]:
        start = datetime.fromtimestamp(int(request.query["start_time"]), UTC)
        end = datetime.fromtimestamp(int(request.query.get("end_time", "4102444800")), UTC)
        return start, end

    def start_of(self, bucket: dict[str, Any]) -> datetime:
        return datetime.fromtimestamp(bucket["start_time"], UTC)

    def end_of(self, bucket: dict[str, Any]) -> datetime:
        return datetime.fromtimestamp(bucket["end_time"], UTC)

    def envelope_extra(self) -> dict[str, Any]:
        return {"object": "page"}


class FakeAnthropic(FakeAPI):
    """Admin key ``sk-ant-admin01-good``; ``sk-ant-api...`` gets 403, else 401."""

    def refuse(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-api-key", "")
        if key == "sk-ant-admin01-good" and request.headers.get("anthropic-version"):
            return None
        if key.startswith("sk-ant-api"):
            status, kind, message = 403, "permission_error", "This key cannot use the Admin API."
        else:
            status, kind, message = 401, "authentication_error", "invalid x-api-key"
        return json_response(
            status,
            {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"},
            headers={"request-id": "req_1"},
        )

    def bounds(self, request: web.Request) -> tuple[datetime, datetime]:
        start = datetime.fromisoformat(request.query["starting_at"])
        end = datetime.fromisoformat(request.query.get("ending_at", "2100-01-01T00:00:00Z"))
        return start, end

    def start_of(self, bucket: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(bucket["starting_at"])

    def end_of(self, bucket: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(bucket["ending_at"])


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


Serve = Callable[[web.Application], Awaitable[str]]


class FakeClock:
    """A monotonic clock and a sleep that waits no real time: ``sleep`` records
    the wait and moves the clock on, so retry waits are asserted, not endured."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def timer(self) -> Timer:
        return Timer(monotonic=self.monotonic, sleep=self.sleep)
