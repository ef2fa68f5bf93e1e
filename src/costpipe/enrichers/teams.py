"""Attribute records to teams or cost centres (``[[enrichers.teams]]``).

A mapping in the config says which team owns a user, an API key or a
project::

    [[enrichers.teams]]
    tag = "team"                       # default; e.g. "cost_centre"
    default = "unassigned"             # optional
    precedence = ["user_id", "api_key_id", "project_id"]   # the default order

    [enrichers.teams.users]
    "user-abc123" = "search"
    [enrichers.teams.api_keys]
    "key_9f2" = "data-platform"
    [enrichers.teams.projects]
    "proj_Q1" = "ads"

Guarantees:

* The first dimension in ``precedence`` whose value is mapped decides the team.
  The default order goes from the most specific owner to the broadest: a person
  (``user_id``), then the key a service uses (``api_key_id``), then the project
  that may be shared by several teams (``project_id``). An empty dimension never
  matches.
* With no match, the record gets ``default`` when it is set; otherwise it is
  returned unchanged (a tag set by an earlier enricher is kept).
* A match overwrites an existing tag of the same name, so changing the mapping
  re-labels records on the next re-fetch. Tags are not part of a record's key:
  a re-label never duplicates money.
* No IO: lookups are dictionary reads, so ``enrich`` never fails for a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from costpipe.components import ComponentConfig, Enricher
from costpipe.hookspecs import hookimpl
from costpipe.records import DIMENSIONS, CostRecord

__all__ = ["TeamsConfig", "TeamsEnricher", "register_enrichers"]

Dimension = Literal["user_id", "api_key_id", "project_id"]

_TAG_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
#: Most specific owner first: a person, the key a service uses, a shared project.
DEFAULT_PRECEDENCE: tuple[Dimension, ...] = ("user_id", "api_key_id", "project_id")


class TeamsConfig(ComponentConfig):
    """``[[enrichers.teams]]``."""

    tag: str = Field(
        default="team",
        pattern=_TAG_NAME_PATTERN,
        description="Tag written on matched records (lowercase letters, digits, `_`).",
    )
    users: dict[str, str] = Field(default_factory=dict, description="`user_id` -> team.")
    api_keys: dict[str, str] = Field(default_factory=dict, description="`api_key_id` -> team.")
    projects: dict[str, str] = Field(
        default_factory=dict, description="`project_id` (or Anthropic workspace) -> team."
    )
    precedence: list[Dimension] = Field(
        default_factory=lambda: list(DEFAULT_PRECEDENCE),
        description="Order in which the mappings are tried; the first match wins.",
    )
    default: str | None = Field(
        default=None, description="Team of records no mapping matches (default: leave untagged)."
    )

    @field_validator("tag")
    @classmethod
    def _not_a_dimension(cls, value: str) -> str:
        if value in DIMENSIONS:
            raise ValueError(f"{value!r} is a record dimension; choose another tag name")
        return value

    @field_validator("precedence")
    @classmethod
    def _each_once(cls, value: list[Dimension]) -> list[Dimension]:
        if not value:
            raise ValueError("name at least one of user_id, api_key_id, project_id")
        if len(set(value)) != len(value):
            raise ValueError("a dimension is listed twice")
        return value

    @field_validator("users", "api_keys", "projects")
    @classmethod
    def _teams_not_empty(cls, value: dict[str, str]) -> dict[str, str]:
        for key, team in value.items():
            if not key:
                raise ValueError("an empty ID can never match")
            if not team:
                raise ValueError(f"{key!r} maps to an empty team name")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not (self.users or self.api_keys or self.projects or self.default):
            raise ValueError("map at least one of users, api_keys, projects, or set default")
        return self


class TeamsEnricher(Enricher[TeamsConfig]):
    """Tags records with the team that owns their user, key or project."""

    name: ClassVar[str] = "teams"
    config_model: ClassVar[type[TeamsConfig]] = TeamsConfig

    def team_of(self, record: CostRecord) -> str | None:
        """The team *record* is attributed to, or ``None`` (no match, no default)."""
        tables: dict[str, dict[str, str]] = {
            "user_id": self.config.users,
            "api_key_id": self.config.api_keys,
            "project_id": self.config.projects,
        }
        for dimension in self.config.precedence:
            value = record.dimension(dimension)
            if value:
                team = tables[dimension].get(value)
                if team is not None:
                    return team
        return self.config.default

    async def enrich(self, records: Sequence[CostRecord]) -> Sequence[CostRecord]:
        enriched: list[CostRecord] = []
        for record in records:
            team = self.team_of(record)
            if team is None or record.tag_map.get(self.config.tag) == team:
                enriched.append(record)
            else:
                enriched.append(record.with_tags({self.config.tag: team}))
        return enriched

    async def check_connection(self) -> str:
        mapped = len(self.config.users) + len(self.config.api_keys) + len(self.config.projects)
        return f"{mapped} IDs mapped to teams as tag `{self.config.tag}` (no IO)"


@hookimpl
def register_enrichers() -> list[type[Enricher[Any]]]:
    return [TeamsEnricher]
