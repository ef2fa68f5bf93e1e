"""A fake of the LiteLLM proxy's ``GET /spend/logs/v2`` (see docs/simulator.md).

Behaviour (paging as the proxy's source has it: :mod:`.litellm_paging` cites
the lines of BerriAI/litellm 1.110.2):

* ``Authorization: Bearer <master key>``; no or unknown key -> 401, a virtual
  key of an internal user -> 403 (spend routes need the proxy admin); errors
  are ``{"error": {"message", "type", "param", "code": "<status>"}}``.
* ``start_date`` and ``end_date`` are required (400 otherwise), formatted
  ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD`` and read as UTC; rows with
  ``start_date <= startTime <= end_date`` (both ends inclusive, as LiteLLM's
  ``gte``/``lte``) and ``startTime`` before "now" are served.
* Offset pagination: ``page`` >= 1, ``page_size`` 1..1000 (FastAPI's 422
  ``{"detail": [...]}`` otherwise), rows ordered ``startTime`` descending with
  **no tie-break**: rows sharing a ``startTime`` come in an order that changes
  with the page asked for, as Postgres may order them under LIMIT/OFFSET.
* ``total`` counts at most 10,000 rows: past that it says ``total: 10000``,
  ``total_is_capped: true``, and ``total_pages`` is computed from the capped
  total.
* ``spend`` is a JSON number in dollars with up to 18 decimals; ``api_key`` is
  the sha256 hex of a virtual key; ``startTime`` is ISO 8601 with microseconds.
* :meth:`LiteLLMWorld.crowd` adds a busy hour: many requests, their
  ``startTime`` on whole seconds (ties) and a burst sharing one instant.
* :attr:`LiteLLMWorld.insert_after_page` makes requests arrive *during* a
  walk: after that many more pages have been served, ``insert_count`` new rows
  are logged just before the end of the range last asked for (once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiohttp import web

from costpipe.simulator.hostile_names import hostile_names
from costpipe.simulator.hostile_pages import litellm_endless_page
from costpipe.simulator.litellm_paging import page_answer, page_size_error
from costpipe.simulator.seeded import SeededHash
from costpipe.simulator.vendor import AuthScheme, Failure, Vendor, bearer_key
from costpipe.simulator.wire import dumps

__all__ = ["LiteLLMVendor", "LiteLLMWorld", "SpendLog", "add_routes", "error_response"]

NowFn = Callable[[], datetime]
HOUR = 3600
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
_DIGITS = Decimal("0.000000000000000001")

#: (model sent upstream, public model_group, custom_llm_provider, $/M in, $/M out)
MODELS: tuple[tuple[str, str, str, Decimal, Decimal], ...] = (
    ("gpt-4o-2024-08-06", "gpt-4o", "openai", Decimal("2.5"), Decimal(10)),
    ("gpt-4o-2024-08-06", "gpt-4o", "azure", Decimal("2.5"), Decimal(10)),
    ("claude-sonnet-4-20250514", "sonnet", "anthropic", Decimal(3), Decimal(15)),
    ("llama-3.3-70b-versatile", "llama3", "groq", Decimal("0.59"), Decimal("0.79")),
    ("text-embedding-3-small", "embed", "openai", Decimal("0.02"), Decimal(0)),
)


@dataclass(frozen=True, slots=True)
class Caller:
    """A virtual key, its owner and team."""

    key_hash: str
    alias: str
    user: str
    team_id: str | None


@dataclass(frozen=True, slots=True)
class SpendLog:
    """One ``LiteLLM_SpendLogs`` row."""

    request_id: str
    start: datetime
    caller: Caller
    model: str
    model_group: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    spend: Decimal
    status: str

    def as_json(self) -> dict[str, object]:
        end = self.start + timedelta(milliseconds=800)
        return {
            "request_id": self.request_id,
            "call_type": "aembedding" if self.model_group == "embed" else "acompletion",
            "api_key": self.caller.key_hash,
            "spend": self.spend,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "startTime": self.start.isoformat(),
            "endTime": end.isoformat(),
            "request_duration_ms": 800,
            "model": self.model,
            "model_id": hashlib.sha256(f"{self.model}/{self.provider}".encode()).hexdigest()[:16],
            "model_group": self.model_group,
            "custom_llm_provider": self.provider,
            "api_base": f"https://{self.provider}.example/v1",
            "user": self.caller.user,
            "metadata": {
                "user_api_key_alias": self.caller.alias,
                "user_api_key_team_id": self.caller.team_id,
                "status": self.status,
            },
            "cache_hit": "False",
            "cache_key": "Cache OFF",
            "request_tags": [],
            "team_id": self.caller.team_id,
            "organization_id": None,
            "end_user": "customer-" + self.request_id[-3:],
            "requester_ip_address": None,
            "session_id": None,
            "status": self.status,
        }


class LiteLLMWorld:
    """Deterministic per-request spend logs of one LiteLLM proxy."""

    def __init__(self, seed: int, hostile: bool = False) -> None:
        self._hash = SeededHash(seed)
        h = self._hash
        names = hostile_names(seed) if hostile else ()
        # Proxy admins name models, users, teams and key aliases freely: with
        # hostile names on, each of those carries every hostile value as is.
        self.models = MODELS + tuple(
            (name, name, "openai", Decimal("0.15"), Decimal("0.60")) for name in names
        )
        self.master_key = "sk-" + h.token(32, "litellm", "master")
        self.user_key = "sk-" + h.token(22, "litellm", "user-key")
        teams: list[str | None] = [
            "e8d1460f-846c-45d7-9b43-55f3cc52ac32",
            'team search, "ranking"=1 ü \\',
            None,  # keys without a team
        ]
        self.callers = tuple(
            Caller(
                hashlib.sha256(f"sk-virtual-{i}-{seed}".encode()).hexdigest(),
                f"key-{i}",
                ("default_user_id", "alice@example.com", "bob", "svc-batch")[i % 4],
                teams[i % len(teams)],
            )
            for i in range(6)
        ) + tuple(
            Caller(
                hashlib.sha256(f"sk-virtual-hostile-{i}-{seed}".encode()).hexdigest(),
                name,
                name,
                name,
            )
            for i, name in enumerate(names)
        )
        self.inserted: list[SpendLog] = []
        self.insert_after_page: int | None = None
        """A countdown of pages served: when it reaches 0, :attr:`insert_count` new
        rows are logged just before the end of the range last asked for, once."""
        self.insert_count = 7
        self._crowds: dict[int, list[SpendLog]] = {}

    def crowd(self, hour: datetime, requests: int, burst: int = 0) -> None:
        """Make the hour starting at *hour* hold exactly *requests* rows instead of
        its usual ones: their ``startTime`` falls on whole seconds (several per
        second: ties), and *burst* of them share the instant ``hour + 30 min``."""
        start = int(hour.timestamp()) // HOUR * HOUR
        rows: list[SpendLog] = []
        for n in range(requests):
            c = n % len(self.callers)
            row = self._log(start, c, n, self._hash.words("litellm", "crowd", start, n), "crowd")
            second = HOUR // 2 if n < burst else n * HOUR // requests
            rows.append(_at(row, datetime.fromtimestamp(start + second, UTC)))
        self._crowds[start] = rows

    def _hour(self, hour: int) -> list[SpendLog]:
        if hour in self._crowds:
            return self._crowds[hour]
        rows: list[SpendLog] = []
        busy = 3 if 8 <= datetime.fromtimestamp(hour, UTC).hour < 18 else 1
        for c in range(len(self.callers)):
            w = self._hash.words("litellm", hour, c)
            for n in range(w[0] % (4 * busy)):
                rows.append(self._log(hour, c, n, self._hash.words("litellm", hour, c, n)))
        return rows

    def _log(self, hour: int, c: int, n: int, w: tuple[int, ...], tag: str = "") -> SpendLog:
        model, group, provider, price_in, price_out = self.models[(w[0] + c) % len(self.models)]
        prompt = 10 + w[1] % 6000
        completion = 0 if group == "embed" else 1 + w[2] % 1200
        failed = w[3] % 25 == 0
        spend = Decimal(0)
        if not failed:
            # ~17 significant digits, as LiteLLM's float arithmetic produces.
            jitter = 1 + Decimal(w[6]) / Decimal(10**14)
            spend = (
                (prompt * price_in + completion * price_out) * jitter / Decimal(10**6)
            ).quantize(_DIGITS)
        moment = datetime.fromtimestamp(hour, UTC) + timedelta(
            seconds=w[4] % HOUR, microseconds=w[5] % 1_000_000
        )
        request_id = "chatcmpl-" + self._hash.token(24, "litellm", "id", hour, c, n, tag)
        return SpendLog(
            request_id,
            moment,
            self.callers[c],
            model,
            group,
            provider,
            prompt,
            completion,
            spend,
            "failure" if failed else "success",
        )

    def logs(self, lo: datetime, hi: datetime, now: datetime) -> list[SpendLog]:
        """Rows with ``lo <= startTime <= hi`` and before *now*, newest first."""
        first = int(lo.timestamp()) // HOUR * HOUR
        rows = [r for hour in range(first, int(hi.timestamp()) + 1, HOUR) for r in self._hour(hour)]
        rows.extend(self.inserted)
        rows = [r for r in rows if lo <= r.start <= hi and r.start < now]
        rows.sort(key=lambda r: (r.start, r.request_id), reverse=True)
        return rows

    def insert(self, before: datetime, count: int) -> None:
        """Log *count* new requests in the second before *before* (late arrivals)."""
        base = int(before.timestamp()) - 1
        hour = base // HOUR * HOUR
        for n in range(count):
            number = len(self.inserted)
            w = self._hash.words("litellm", "insert", number)
            row = self._log(hour, number % len(self.callers), number, w, tag=f"ins{number}")
            moment = datetime.fromtimestamp(base, UTC) + timedelta(microseconds=n)
            self.inserted.append(_at(row, moment))

    def truth(self, start: datetime, end: datetime, now: datetime) -> dict[str, Decimal]:
        """Exact spend, tokens and requests of rows with ``start <= startTime < end``."""
        rows = [r for r in self.logs(start, end, now) if r.start < end]
        return {
            "spend": sum((r.spend for r in rows), Decimal(0)),
            "prompt_tokens": Decimal(sum(r.prompt_tokens for r in rows)),
            "completion_tokens": Decimal(sum(r.completion_tokens for r in rows)),
            "requests": Decimal(len(rows)),
        }


def _at(row: SpendLog, moment: datetime) -> SpendLog:
    return SpendLog(
        row.request_id,
        moment,
        row.caller,
        row.model,
        row.model_group,
        row.provider,
        row.prompt_tokens,
        row.completion_tokens,
        row.spend,
        row.status,
    )


def error_response(status: int, message: str, kind: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": "None", "code": str(status)}}
    return web.Response(status=status, body=dumps(body), content_type="application/json")


class LiteLLMVendor(Vendor):
    """``Authorization: Bearer <master key>``; a user's virtual key is 403
    (spend routes need the proxy admin); errors ``{"error": {message, type,
    param, code: "<status>"}}``."""

    name = "litellm"
    injects_failures = False

    def __init__(self, world: LiteLLMWorld) -> None:
        invalid = Failure(
            401, "auth_error", "Authentication Error, Invalid proxy server token passed."
        )
        self._auth = AuthScheme(
            read_key=bearer_key,
            admin_keys=(world.master_key,),
            lesser_key=world.user_key,
            missing=invalid,
            lesser=Failure(
                403,
                "auth_error",
                "Only proxy admin can be used to generate, delete, update info for new "
                "keys/users/teams. Route=/spend/logs/v2",
            ),
            unknown=lambda key: invalid,
        )

    @property
    def auth(self) -> AuthScheme:
        return self._auth

    def render(self, failure: Failure, request_id: str | None) -> web.Response:
        return error_response(failure.status, failure.message, failure.kind)

    def endless_page(self, request: web.Request, number: int, now: int) -> dict[str, object]:
        page, size = request.query.get("page", "1"), request.query.get("page_size", "50")
        return litellm_endless_page(
            int(page) if page.isdigit() else 1, int(size) if size.isdigit() else 50
        )


def _parse_date(raw: str) -> datetime:
    for form in _FORMATS:
        try:
            return datetime.strptime(raw.strip(), form).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"Invalid date format: {raw}. Expected: 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'")


def add_routes(app: web.Application, world: LiteLLMWorld, now: NowFn) -> list[str]:
    """Mount ``/spend/logs/v2`` (authentication is the shared middleware's, with
    :class:`LiteLLMVendor`); return the paths."""

    async def spend_logs(request: web.Request) -> web.StreamResponse:
        query = request.query
        if "start_date" not in query or "end_date" not in query:
            return error_response(400, "Start date and end date are required", "bad_request_error")
        try:
            lo = _parse_date(query["start_date"])
            hi = _parse_date(query["end_date"])
        except ValueError as error:
            return error_response(400, str(error), "bad_request_error")
        page_text, size_text = query.get("page", "1"), query.get("page_size", "50")
        if not (page_text.isdigit() and size_text.isdigit()):
            invalid = {"detail": [{"type": "int_parsing", "loc": ["query", "page_size"]}]}
            return web.Response(status=422, body=dumps(invalid), content_type="application/json")
        page, size = int(page_text), int(size_text)
        refused = page_size_error(page, size)
        if refused is not None:
            return web.Response(status=422, body=dumps(refused), content_type="application/json")
        moment = now()
        served, fields = page_answer(world.logs(lo, hi, moment), page, size)
        body = {"data": [r.as_json() for r in served], **fields}
        if world.insert_after_page is not None:
            world.insert_after_page -= 1
            if world.insert_after_page <= 0:
                world.insert_after_page = None
                world.insert(min(hi, moment), world.insert_count)
        return web.Response(body=dumps(body), content_type="application/json")

    app.router.add_get("/spend/logs/v2", spend_logs)
    return ["/spend/logs/v2"]
