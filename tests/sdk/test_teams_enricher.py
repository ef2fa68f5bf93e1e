"""The built-in teams enricher: precedence, default, tag name, config errors."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.config.settings import parse_config
from costpipe.enrichers import teams
from costpipe.enrichers.teams import TeamsConfig, TeamsEnricher
from costpipe.errors import ConfigError
from costpipe.plugins import build_plugin_manager
from costpipe.records import CostRecord, CostSource
from costpipe.testing import EnricherContract


def record(user: str = "", key: str = "", project: str = "", **tags: str) -> CostRecord:
    return CostRecord(
        start=datetime(2026, 11, 20, 9, tzinfo=UTC),
        width=timedelta(hours=1),
        provider="openai",
        account="openai.test",
        cost_source=CostSource.BILLED,
        cost_usd=Decimal("0.25"),
        user_id=user,
        api_key_id=key,
        project_id=project,
    ).with_tags(tags)


def make(tmp_path: Path, **options: object) -> TeamsEnricher:
    return TeamsEnricher(
        TeamsConfig.model_validate(options), ComponentContext("teams.test", tmp_path)
    )


class TestTeamsContract(EnricherContract):
    @pytest.fixture
    async def enricher(self, tmp_path: Path) -> AsyncIterator[TeamsEnricher]:
        enricher = make(
            tmp_path,
            users={"user-alice": "search"},
            projects={"proj_ads": "ads", "wrkspc_01ads": "ads"},
            api_keys={"key_b": "platform"},
        )
        await enricher.start()
        yield enricher
        await enricher.close()


async def test_user_beats_key_beats_project_by_default(tmp_path: Path) -> None:
    """The default precedence is user_id, then api_key_id, then project_id."""
    enricher = make(
        tmp_path, users={"u1": "by-user"}, api_keys={"k1": "by-key"}, projects={"p1": "by-project"}
    )
    batch = [record("u1", "k1", "p1"), record("u2", "k1", "p1"), record("u2", "k2", "p1")]
    assert [r.tag_map["team"] for r in await enricher.enrich(batch)] == [
        "by-user",
        "by-key",
        "by-project",
    ]


async def test_precedence_is_configurable(tmp_path: Path) -> None:
    """A project-first precedence lets the project decide even when the user is mapped."""
    enricher = make(
        tmp_path,
        users={"u1": "by-user"},
        projects={"p1": "by-project"},
        precedence=["project_id", "user_id"],
    )
    [tagged] = await enricher.enrich([record("u1", "", "p1")])
    assert tagged.tag_map["team"] == "by-project"


async def test_dimension_left_out_of_precedence_is_ignored(tmp_path: Path) -> None:
    enricher = make(tmp_path, api_keys={"k1": "by-key"}, precedence=["user_id", "project_id"])
    [untouched] = await enricher.enrich([record("", "k1")])
    assert untouched.tags == ()


async def test_default_team_for_unmatched_records(tmp_path: Path) -> None:
    enricher = make(tmp_path, users={"u1": "search"}, default="unassigned")
    tagged = await enricher.enrich([record("u1"), record("u9"), record()])
    assert [r.tag_map["team"] for r in tagged] == ["search", "unassigned", "unassigned"]


async def test_no_match_no_default_keeps_existing_tags(tmp_path: Path) -> None:
    """Without a default, an unmatched record is returned as it came, earlier tags kept."""
    enricher = make(tmp_path, users={"u1": "search"})
    original = record("u9", team="set-upstream", env="prod")
    [same] = await enricher.enrich([original])
    assert same is original


async def test_match_overwrites_the_tag_and_key_is_stable(tmp_path: Path) -> None:
    """A new mapping re-labels a record without changing its identity."""
    enricher = make(tmp_path, users={"u1": "new-team"})
    old = record("u1", team="old-team")
    [relabelled] = await enricher.enrich([old])
    assert relabelled.tag_map == {"team": "new-team"}
    assert old.key == relabelled.key


async def test_custom_tag_name(tmp_path: Path) -> None:
    enricher = make(tmp_path, projects={"p1": "CC-4711"}, tag="cost_centre")
    [tagged] = await enricher.enrich([record(project="p1", team="search")])
    assert dict(tagged.tag_map) == {"cost_centre": "CC-4711", "team": "search"}


def test_registered_through_the_hook() -> None:
    _pm, registry = build_plugin_manager(builtins=("costpipe.enrichers.teams",), entry_points=False)
    assert registry.get("enrichers", "teams") is TeamsEnricher


def _parse(toml: str) -> object:
    _pm, registry = build_plugin_manager(builtins=(), entry_points=False, extra=[teams])
    return parse_config(tomllib.loads(toml), registry, env={})


def test_config_from_toml() -> None:
    settings = _parse(
        """
        [[enrichers.teams]]
        name = "finance"
        tag = "cost_centre"
        default = "CC-0000"
        [enrichers.teams.users]
        "user-Zoë \\"ops\\", x=1" = "CC-1"
        """
    )
    [spec] = settings.enrichers  # type: ignore[attr-defined]
    assert spec.instance == "teams.finance"
    assert spec.config.users == {'user-Zoë "ops", x=1': "CC-1"}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("tag = 'model'\ndefault = 'x'", "enrichers.teams[0].tag", "record dimension"),
        ("tag = 'Team Name'\ndefault = 'x'", "enrichers.teams[0].tag", "pattern"),
        ("", "enrichers.teams[0]", "map at least one"),
        (
            "precedence = ['user_id', 'user_id']\ndefault = 'x'",
            "enrichers.teams[0].precedence",
            "twice",
        ),
        ("precedence = ['model']\ndefault = 'x'", "enrichers.teams[0].precedence[0]", "user_id"),
        ("users = { u1 = '' }", "enrichers.teams[0].users", "empty team"),
        ("teams = { u1 = 'a' }", "enrichers.teams[0].teams", "unknown key"),
    ],
)
def test_config_errors_name_the_path(body: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse("[[enrichers.teams]]\n" + body)
    assert path == caught.value.path
    assert message in caught.value.message
