"""A fake of OpenRouter's ``/api/v1/activity`` and ``/api/v1/credits`` (see docs/simulator.md).

Base URL ``http://127.0.0.1:P/api/v1``. Behaviour:

* ``Authorization: Bearer <key>``: no or unknown key -> 401; an ordinary
  (inference) key -> 403 "Only management keys can perform this operation";
  errors are ``{"error": {"code": <int>, "message": ...}}``.
* ``/activity`` returns one row per (UTC day, model, endpoint) for the last 30
  *completed* UTC days (today is never included), with no pagination; ``date``
  (``YYYY-MM-DD``) narrows it to one of those days, anything else is a 400.
* Workspaces, as OpenRouter's OpenAPI spec has them (OpenRouterTeam/typescript-sdk
  commit cb9393a8, ``.speakeasy/in.openapi.yaml``, ``/activity`` at line 26536
  and ``ActivityItem.workspace_id`` at line 97): by default rows are summed
  across workspaces and carry **no** ``workspace_id``; ``group_by=workspace``
  (the only value of its enum; another is a 400) splits each row per workspace
  and puts ``workspace_id`` on every item; ``workspace_id=<uuid>`` keeps only
  that workspace's share (an unknown one is a 400). The account's usage is
  spread over :data:`WORKSPACES` (each row's share is exact: the parts add up
  to the summed row to the last digit).
* ``usage`` and ``byok_usage_inference`` are JSON numbers in dollars written
  with up to 18 decimals, exactly as :func:`truth` sums them.
* ``/credits`` returns ``total_credits`` and ``total_usage`` (everything ever
  spent: the served 30 days plus a fixed older amount).

Rows are hashes of (seed, day, endpoint): independent of the query and the order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from aiohttp import web

from costpipe.simulator.hostile_names import hostile_names
from costpipe.simulator.seeded import SeededHash
from costpipe.simulator.vendor import AuthScheme, Failure, Vendor, bearer_key
from costpipe.simulator.wire import dumps

__all__ = [
    "ENDPOINTS",
    "WORKSPACES",
    "ActivityRow",
    "Endpoint",
    "OpenRouterVendor",
    "OpenRouterWorld",
    "add_routes",
    "error_response",
]

NowFn = Callable[[], datetime]
HISTORY_DAYS = 30
_PRICE_DIGITS = Decimal("0.000000000000000001")
#: The account's workspaces: the default one and two more.
WORKSPACES: tuple[str, ...] = (
    "4c3b2a19-0d8e-4f7a-9b6c-5d4e3f2a1b0c",
    "7e9f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b",
    "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
)
#: Credits spent before the 30 served days (in /credits total_usage).
OLDER_USAGE = Decimal("1234.5678901234")
TOTAL_CREDITS = Decimal("5000")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One (model, upstream provider) route; ``byok`` endpoints bill the
    inference to the customer's own provider key."""

    model: str
    permaslug: str
    provider_name: str
    endpoint_id: str
    input_per_m: Decimal
    output_per_m: Decimal
    byok: bool = False


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "openai/gpt-4.1",
        "openai/gpt-4.1-2025-04-14",
        "OpenAI",
        "550e8400-e29b-41d4-a716-446655440000",
        Decimal(2),
        Decimal(8),
    ),
    Endpoint(
        "anthropic/claude-sonnet-4",
        "anthropic/claude-4-sonnet-20250522",
        "Anthropic",
        "6f1c2a8e-5b0d-4c8e-9f51-0d7c3b9a4e21",
        Decimal(3),
        Decimal(15),
    ),
    # The same model through a second upstream: two rows of one day and model.
    Endpoint(
        "anthropic/claude-sonnet-4",
        "anthropic/claude-4-sonnet-20250522",
        "Amazon Bedrock",
        "0b3e9d7a-2c41-4f7e-8a66-91e5d0c2f3b8",
        Decimal(3),
        Decimal(15),
    ),
    Endpoint(
        "meta-llama/llama-3.3-70b-instruct",
        "meta-llama/llama-3.3-70b-instruct",
        "DeepInfra",
        "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        Decimal("0.23"),
        Decimal("0.40"),
    ),
    Endpoint(
        "google/gemini-2.5-flash",
        "google/gemini-2.5-flash",
        "Google",
        "3a2b1c0d-9e8f-4a7b-b6c5-d4e3f2a1b0c9",
        Decimal("0.30"),
        Decimal("2.50"),
        byok=True,
    ),
)


@dataclass(frozen=True, slots=True)
class ActivityRow:
    day: date
    endpoint: Endpoint
    requests: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    usage: Decimal
    byok_usage_inference: Decimal
    workspace_id: str | None = None

    def as_json(self) -> dict[str, object]:
        e = self.endpoint
        workspace = {} if self.workspace_id is None else {"workspace_id": self.workspace_id}
        return {
            **workspace,
            "date": self.day.isoformat(),
            "model": e.model,
            "model_permaslug": e.permaslug,
            "endpoint_id": e.endpoint_id,
            "provider_name": e.provider_name,
            "usage": self.usage,
            "byok_usage_inference": self.byok_usage_inference,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }


class OpenRouterWorld:
    """Deterministic daily activity of one OpenRouter account."""

    def __init__(self, seed: int, hostile: bool = False) -> None:
        self._hash = SeededHash(seed)
        # Model and upstream provider names are text OpenRouter passes through:
        # with hostile names on, one more endpoint per hostile value.
        self.endpoints = ENDPOINTS + tuple(
            Endpoint(
                name,
                name,
                name,
                str(
                    uuid.UUID(
                        bytes=self._hash.token(16, "openrouter", "hostile", i).encode(), version=4
                    )
                ),
                Decimal("0.15"),
                Decimal("0.60"),
            )
            for i, name in enumerate(hostile_names(seed) if hostile else ())
        )
        self.management_key = "sk-or-v1-" + self._hash.token(64, "openrouter", "management")
        self.inference_key = "sk-or-v1-" + self._hash.token(64, "openrouter", "inference")

    def row(self, day: date, endpoint: Endpoint) -> ActivityRow | None:
        w = self._hash.words("openrouter", day.isoformat(), endpoint.endpoint_id)
        if w[0] % 5 == 0:
            return None  # this endpoint was not used that day
        requests = 1 + w[1] % 400
        prompt = requests * (200 + w[2] % 4000)
        completion = requests * (20 + w[3] % 800)
        reasoning = completion * (w[4] % 30) // 100
        inference = (prompt * endpoint.input_per_m + completion * endpoint.output_per_m) / Decimal(
            1_000_000
        )
        # Real amounts carry ~17 significant digits (provider-side discounts and
        # rounding); more than a float keeps, so a float parse would show.
        inference *= 1 + Decimal(w[5]) / Decimal(10**14)
        if endpoint.byok:
            # BYOK: the upstream bills the inference; OpenRouter charges a 5 % fee.
            usage, byok = inference * Decimal("0.05"), inference
        else:
            usage, byok = inference, Decimal(0)
        return ActivityRow(
            day,
            endpoint,
            requests,
            prompt,
            completion,
            reasoning,
            usage.quantize(_PRICE_DIGITS),
            byok.quantize(_PRICE_DIGITS),
        )

    def served_days(self, now: datetime) -> list[date]:
        """The last 30 completed UTC days, oldest first."""
        today = now.astimezone(UTC).date()
        return [today - timedelta(days=n) for n in range(HISTORY_DAYS, 0, -1)]

    def activity(self, now: datetime, only: date | None = None) -> list[ActivityRow]:
        """Rows summed across workspaces (no ``workspace_id``), as served by default."""
        days = [only] if only is not None else self.served_days(now)
        rows = [self.row(day, e) for day in days for e in self.endpoints]
        return [r for r in rows if r is not None]

    def by_workspace(self, now: datetime, only: date | None = None) -> list[ActivityRow]:
        """Each row of :meth:`activity` split per workspace (``group_by=workspace``)."""
        return [part for row in self.activity(now, only) for part in self._split(row)]

    def _split(self, row: ActivityRow) -> list[ActivityRow]:
        """The row's shares in the workspaces that used it: weights from the hash,
        every share rounded down, the last one taking the remainder (exact sums)."""
        w = self._hash.words(
            "openrouter", "workspaces", row.day.isoformat(), row.endpoint.endpoint_id
        )
        weights = [w[n] % 4 for n in range(len(WORKSPACES))]
        weights[0] += 1  # the default workspace always has some of it
        used = [(ws, weight) for ws, weight in zip(WORKSPACES, weights, strict=True) if weight]
        whole = sum(weight for _, weight in used)
        parts: list[ActivityRow] = []
        left = counts_of(row)
        money = [row.usage, row.byok_usage_inference]
        for n, (workspace, weight) in enumerate(used):
            if n == len(used) - 1:
                counts, amounts = left, money
            else:
                counts = [total * weight // whole for total in counts_of(row)]
                amounts = [
                    (total * weight / whole).quantize(_PRICE_DIGITS, rounding=ROUND_DOWN)
                    for total in (row.usage, row.byok_usage_inference)
                ]
                left = [a - b for a, b in zip(left, counts, strict=True)]
                money = [a - b for a, b in zip(money, amounts, strict=True)]
            requests, prompt, completion, reasoning = counts
            usage, byok = amounts
            parts.append(
                ActivityRow(
                    row.day,
                    row.endpoint,
                    requests,
                    prompt,
                    completion,
                    reasoning,
                    usage,
                    byok,
                    workspace_id=workspace,
                )
            )
        return parts

    def truth(
        self, start: date, end: date, now: datetime, workspace: str | None = None
    ) -> dict[str, Decimal]:
        """Exact ``usage`` (and ``byok``) dollars served for days in ``[start, end)``,
        of one workspace if given."""
        usage = byok = Decimal(0)
        requests = 0
        rows = self.activity(now) if workspace is None else self.by_workspace(now)
        for row in rows:
            if workspace is not None and row.workspace_id != workspace:
                continue
            if start <= row.day < end:
                usage += row.usage
                byok += row.byok_usage_inference
                requests += row.requests
        return {"usage": usage, "byok": byok, "requests": Decimal(requests)}

    def total_usage(self, now: datetime) -> Decimal:
        return OLDER_USAGE + sum((r.usage for r in self.activity(now)), Decimal(0))


def counts_of(row: ActivityRow) -> list[int]:
    """The counts of a row, in :class:`ActivityRow`'s order."""
    return [row.requests, row.prompt_tokens, row.completion_tokens, row.reasoning_tokens]


def error_response(status: int, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "metadata": None}, "user_id": None}
    return web.Response(status=status, body=dumps(body), content_type="application/json")


class OpenRouterVendor(Vendor):
    """``Authorization: Bearer <management key>``; an inference key is 403;
    errors ``{"error": {"code": <int>, "message", "metadata"}, "user_id"}``."""

    name = "openrouter"
    injects_failures = False

    def __init__(self, world: OpenRouterWorld) -> None:
        self._auth = AuthScheme(
            read_key=bearer_key,
            admin_keys=(world.management_key,),
            lesser_key=world.inference_key,
            missing=Failure(401, "", "Missing Authentication header"),
            lesser=Failure(403, "", "Only management keys can perform this operation"),
            unknown=lambda key: Failure(401, "", "User not found."),
        )

    @property
    def auth(self) -> AuthScheme:
        return self._auth

    def render(self, failure: Failure, request_id: str | None) -> web.Response:
        return error_response(failure.status, failure.message)


PATHS = ("/activity", "/credits")


def add_routes(
    app: web.Application, world: OpenRouterWorld, now: NowFn, prefix: str = "/api/v1"
) -> list[str]:
    """Mount ``/activity`` and ``/credits`` under *prefix* (authentication is
    the shared middleware's, with :class:`OpenRouterVendor`); return the paths."""

    async def activity(request: web.Request) -> web.StreamResponse:
        moment = now()
        only: date | None = None
        for name in request.query:
            if name not in ("date", "api_key_hash", "user_id", "group_by", "workspace_id"):
                return error_response(400, f"Invalid request parameters: unknown `{name}`")
        if "date" in request.query:
            try:
                only = date.fromisoformat(request.query["date"])
            except ValueError:
                return error_response(400, "Invalid request parameters: date must be YYYY-MM-DD")
            if only not in world.served_days(moment):
                return error_response(
                    400, "Invalid request parameters: date must be in the last 30 days"
                )
        group_by = request.query.get("group_by")
        if group_by not in (None, "workspace"):
            return error_response(400, "Invalid request parameters: group_by must be workspace")
        workspace = request.query.get("workspace_id")
        if workspace is not None and workspace not in WORKSPACES:
            return error_response(400, "Invalid request parameters: unknown workspace_id")
        if group_by is None and workspace is None:
            served = world.activity(moment, only)
        else:
            served = [
                r
                for r in world.by_workspace(moment, only)
                if workspace is None or r.workspace_id == workspace
            ]
            if group_by is None:  # one workspace's share, without the field
                served = [replace(r, workspace_id=None) for r in served]
        rows = [r.as_json() for r in served]
        return web.Response(body=dumps({"data": rows}), content_type="application/json")

    async def credits(request: web.Request) -> web.StreamResponse:
        body = {"data": {"total_credits": TOTAL_CREDITS, "total_usage": world.total_usage(now())}}
        return web.Response(body=dumps(body), content_type="application/json")

    app.router.add_get(prefix + "/activity", activity)
    app.router.add_get(prefix + "/credits", credits)
    return [prefix + path for path in PATHS]
