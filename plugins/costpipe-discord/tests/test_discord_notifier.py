"""The Discord notifier against a real aiohttp receiver speaking Discord's webhook API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from costpipe_discord import DiscordConfig, DiscordNotifier
from pydantic import SecretStr

from costpipe import AuthError, ComponentContext, TransientError
from costpipe.plugins import build_plugin_manager
from costpipe.testing import NotifierContract, sample_notification

TOKEN = "dIscOrDtOkEn-0123456789abcdef"
PATH = f"/api/webhooks/112233/{TOKEN}"


@dataclass
class Receiver:
    bodies: list[dict[str, Any]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    status: int = 200

    def app(self) -> web.Application:
        async def post(request: web.Request) -> web.Response:
            if self.status != 200:
                return web.json_response({"message": "nope", "code": 0}, status=self.status)
            self.bodies.append(await request.json())
            self.queries.append(request.query_string)
            return web.json_response({"id": str(len(self.bodies)), "type": 0})

        async def get(request: web.Request) -> web.Response:
            return web.json_response({"id": "112233", "name": "costpipe-alerts", "type": 1})

        app = web.Application()
        app.router.add_post(PATH, post)
        app.router.add_get(PATH, get)
        return app

    def ids(self) -> list[str]:
        return [b["embeds"][0]["footer"]["text"].removeprefix("costpipe ") for b in self.bodies]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    fake = Receiver()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield fake, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def started(url: str, tmp_path: Path, **options: Any) -> DiscordNotifier:
    notifier = DiscordNotifier(
        DiscordConfig(url=SecretStr(url), **options), ComponentContext("discord.ops", tmp_path)
    )
    await notifier.start()
    return notifier


class TestDiscordContract(NotifierContract):
    @pytest.fixture
    async def notifier(
        self, receiver: tuple[Receiver, str], tmp_path: Path
    ) -> AsyncIterator[DiscordNotifier]:
        notifier = await started(receiver[1] + PATH, tmp_path)
        yield notifier
        await notifier.close()

    @pytest.fixture
    def delivered(self, receiver: tuple[Receiver, str]) -> Callable[[], Awaitable[list[str]]]:
        async def ids() -> list[str]:
            return receiver[0].ids()

        return ids

    @pytest.fixture
    async def unreachable_notifier(self, tmp_path: Path) -> AsyncIterator[DiscordNotifier]:
        # Port 9 (discard) on loopback: nothing listens, the connection is refused.
        notifier = await started(f"http://127.0.0.1:9{PATH}", tmp_path)
        yield notifier
        await notifier.close()

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [TOKEN]


async def test_body_has_content_and_one_embed(
    receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    notifier = await started(receiver[1] + PATH, tmp_path, username="costpipe", mention="<@&42>")
    await notifier.send(sample_notification())
    await notifier.close()
    [body] = receiver[0].bodies
    assert body["content"] == "<@&42> **Budget monthly-openai reached 80 %**"
    assert body["username"] == "costpipe"
    assert body["allowed_mentions"] == {"parse": [], "roles": ["42"], "users": []}
    [embed] = body["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Spent"] == "$812.40"
    assert fields["Budget"] == "$1,000.00"
    assert fields["model"] == "gpt-4o <&>"
    assert embed["url"] == "http://127.0.0.1:5006/costpipe"
    assert embed["timestamp"] == "2026-11-20T09:30:00+00:00"
    assert receiver[0].queries == ["wait=true"]


@pytest.mark.parametrize(
    ("status", "error"), [(404, AuthError), (429, TransientError), (502, TransientError)]
)
async def test_refusals_are_classified(
    receiver: tuple[Receiver, str], tmp_path: Path, status: int, error: type[Exception]
) -> None:
    receiver[0].status = status
    notifier = await started(receiver[1] + PATH, tmp_path)
    with pytest.raises(error) as caught:
        await notifier.send(sample_notification())
    await notifier.close()
    assert TOKEN not in str(caught.value)


async def test_check_connection_names_the_webhook(
    receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    notifier = await started(receiver[1] + PATH, tmp_path)
    assert "costpipe-alerts" in await notifier.check_connection()
    await notifier.close()
    assert receiver[0].bodies == []


def test_installed_entry_point_registers_the_notifier() -> None:
    _pm, registry = build_plugin_manager(builtins=())
    assert registry.get("notifiers", "discord") is DiscordNotifier
