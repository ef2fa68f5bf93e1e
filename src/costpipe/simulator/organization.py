"""The synthetic organisations: IDs in the providers' real formats and the
usage *streams* (who uses which model how) that activity is generated for.

A stream is the finest unit of usage: one combination of every dimension the
provider can group by. Usage rows are sums of streams, so any ``group_by`` is
exact. Streams are derived from the seed only, never from the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from costpipe.simulator.catalog import (
    ANTHROPIC_LONG_CONTEXT,
    ANTHROPIC_MODELS,
    ANTHROPIC_UNPRICED_MODEL,
    OPENAI_AWKWARD_MODEL,
    OPENAI_COMPLETION_MODELS,
    OPENAI_EMBEDDING_MODELS,
    OPENAI_PRIORITY_MODEL,
    OPENAI_UNPRICED_MODEL,
    RECENT_ANTHROPIC_MODELS,
    RECENT_OPENAI_MODELS,
)
from costpipe.simulator.hostile_names import hostile_names
from costpipe.simulator.options import SimulatorOptions
from costpipe.simulator.seeded import SeededHash

__all__ = ["AnthropicOrg", "AnthropicStream", "OpenAIOrg", "OpenAIStream"]

AWKWARD_PROJECT = 'proj_awkward team, "α=β" \\'
AWKWARD_USER = 'user-Zoë "ops", x=1 \\'
AWKWARD_WORKSPACE = 'wrkspc_01Awkward "ws", a=b ü \\'


@dataclass(frozen=True, slots=True)
class OpenAIStream:
    """One (endpoint, model, project, user, key, batch, tier) combination."""

    kind: str  # "completions" or "embeddings"
    model: str
    project_id: str
    user_id: str | None
    api_key_id: str
    batch: bool
    service_tier: str


@dataclass(frozen=True, slots=True)
class AnthropicStream:
    """One (model, workspace, key, tier, context window, geo) combination.
    ``workspace_id`` None is the default workspace; ``api_key_id`` None is
    Workbench/Console usage, which the real API reports without a key."""

    model: str
    workspace_id: str | None
    api_key_id: str | None
    service_tier: str
    context_window: str
    inference_geo: str


def _pick(hasher: SeededHash, pool: list[str], count: int, *labels: object) -> list[str]:
    """Pick *count* distinct items of *pool*, deterministically."""
    ranked = sorted(pool, key=lambda item: hasher.words(*labels, item))
    return ranked[: min(count, len(pool))]


class OpenAIOrg:
    """A synthetic OpenAI organisation."""

    def __init__(self, options: SimulatorOptions) -> None:
        h = SeededHash(options.seed)
        self.organization_id = "org-" + h.token(24, "openai", "org")
        self.project_ids = [
            "proj_" + h.token(24, "openai", "project", i) for i in range(options.projects)
        ]
        self.user_ids = ["user-" + h.token(24, "openai", "user", i) for i in range(options.users)]
        self.api_key_ids = [
            "key_" + h.token(16, "openai", "key", i) for i in range(options.api_keys)
        ]
        if options.awkward:
            if len(self.project_ids) > 1:
                self.project_ids[1] = AWKWARD_PROJECT
            if len(self.user_ids) > 1:
                self.user_ids[1] = AWKWARD_USER
        self.admin_keys = options.openai_admin_keys or (
            "sk-admin-" + h.token(40, "openai", "admin"),
        )
        self.project_key = "sk-proj-" + h.token(40, "openai", "project-key")
        self.streams = self._streams(h, options)
        if options.hostile_names:
            # Listed after the streams are built: the regular streams stay as without them.
            names = hostile_names(options.seed)
            self.project_ids.extend("proj_" + name for name in names)
            self.user_ids.extend("user-" + name for name in names)
            self.api_key_ids.extend("key_" + name for name in names)

    def key_of_project(self, project: int) -> str:
        """The API key used by a project (keys are dealt round-robin)."""
        return self.api_key_ids[project % len(self.api_key_ids)]

    @staticmethod
    def _hostile_streams(seed: int) -> list[OpenAIStream]:
        """One stream per hostile name: that name as model, and in the project,
        user and key IDs (after their real prefixes)."""
        return [
            OpenAIStream(
                "completions", name, "proj_" + name, "user-" + name, "key_" + name, False, "default"
            )
            for name in hostile_names(seed)
        ]

    def _streams(self, h: SeededHash, options: SimulatorOptions) -> tuple[OpenAIStream, ...]:
        streams: list[OpenAIStream] = []
        regular = [
            m
            for m in OPENAI_COMPLETION_MODELS
            if m not in (OPENAI_UNPRICED_MODEL, OPENAI_AWKWARD_MODEL, *RECENT_OPENAI_MODELS)
        ]
        for u, user in enumerate(self.user_ids):
            project = u % len(self.project_ids)
            key = self.key_of_project(project)
            for model in _pick(h, regular, options.models_per_user, "openai", "models", u):
                streams.append(
                    OpenAIStream(
                        "completions", model, self.project_ids[project], user, key, False, "default"
                    )
                )
        first = self.project_ids[0]
        last = len(self.project_ids) - 1
        # Fixed extras so every organisation, however small, has the awkward cases.
        streams.append(
            OpenAIStream(
                "completions",
                regular[0],
                first,
                self.user_ids[0],
                self.key_of_project(0),
                True,
                "default",
            )
        )
        streams.append(
            OpenAIStream(
                "completions",
                regular[1],
                first,
                self.user_ids[-1],
                self.key_of_project(0),
                False,
                "flex",
            )
        )
        streams.append(
            OpenAIStream(
                "completions",
                OPENAI_UNPRICED_MODEL,
                self.project_ids[last],
                self.user_ids[-1],
                self.key_of_project(last),
                False,
                "default",
            )
        )
        awkward_project = 1 % len(self.project_ids)
        streams.append(
            OpenAIStream(
                "completions",
                OPENAI_AWKWARD_MODEL,
                self.project_ids[awkward_project],
                self.user_ids[1 % len(self.user_ids)],
                self.key_of_project(awkward_project),
                False,
                "default",
            )
        )
        if options.hostile_names:
            streams.extend(self._hostile_streams(options.seed))
        embeddings = list(OPENAI_EMBEDDING_MODELS)
        for p, project_id in enumerate(self.project_ids):
            model = embeddings[p % len(embeddings)]
            # Embedding calls made without a `user` parameter: user_id is null.
            streams.append(
                OpenAIStream(
                    "embeddings", model, project_id, None, self.key_of_project(p), False, "default"
                )
            )
        # The current models, last so that the streams above keep their places;
        # the Priority model once more in the priority tier (about half its usage).
        for model in RECENT_OPENAI_MODELS:
            streams.append(
                OpenAIStream(
                    "completions",
                    model,
                    first,
                    self.user_ids[0],
                    self.key_of_project(0),
                    False,
                    "default",
                )
            )
        streams.append(
            OpenAIStream(
                "completions",
                OPENAI_PRIORITY_MODEL,
                first,
                self.user_ids[0],
                self.key_of_project(0),
                False,
                "priority",
            )
        )
        return tuple(dict.fromkeys(streams))


class AnthropicOrg:
    """A synthetic Anthropic organisation."""

    def __init__(self, options: SimulatorOptions) -> None:
        h = SeededHash(options.seed)
        self.organization_id = "-".join(
            h.token(n, "anthropic", "org", i).lower() for i, n in enumerate((8, 4, 4, 4, 12))
        )
        # Workspace 0 is the default workspace, which the API reports as null.
        self.workspace_ids: list[str | None] = [None] + [
            "wrkspc_01" + h.token(22, "anthropic", "workspace", i)
            for i in range(1, options.projects)
        ]
        if options.awkward and len(self.workspace_ids) > 2:
            self.workspace_ids[2] = AWKWARD_WORKSPACE
        self.api_key_ids = [
            "apikey_01" + h.token(22, "anthropic", "key", i) for i in range(options.api_keys)
        ]
        self.admin_keys = options.anthropic_admin_keys or (
            "sk-ant-admin01-"
            + h.token(64, "anthropic", "admin")
            + "-"
            + h.token(8, "anthropic", "admin-tail"),
        )
        self.api_key = "sk-ant-api03-" + h.token(64, "anthropic", "api-key")
        self.streams = self._streams(h, options)
        if options.hostile_names:
            names = hostile_names(options.seed)
            self.workspace_ids.extend("wrkspc_01" + name for name in names)
            self.api_key_ids.extend("apikey_01" + name for name in names)
            self.streams += tuple(
                AnthropicStream(
                    name, "wrkspc_01" + name, "apikey_01" + name, "standard", "0-200k", "global"
                )
                for name in names
            )

    def _streams(self, h: SeededHash, options: SimulatorOptions) -> tuple[AnthropicStream, ...]:
        streams: list[AnthropicStream] = []
        regular = [
            m
            for m in ANTHROPIC_MODELS
            if m != ANTHROPIC_UNPRICED_MODEL and m not in RECENT_ANTHROPIC_MODELS
        ]
        geos = ("global", "us")
        for k, key in enumerate(self.api_key_ids):
            workspace = self.workspace_ids[k % len(self.workspace_ids)]
            for model in _pick(h, regular, options.models_per_user, "anthropic", "models", k):
                geo = geos[h.below(2, "anthropic", "geo", k, model)]
                streams.append(AnthropicStream(model, workspace, key, "standard", "0-200k", geo))
        sonnet = "claude-sonnet-4-20250514"
        assert sonnet in ANTHROPIC_LONG_CONTEXT
        first_key = self.api_key_ids[0]
        first_ws = self.workspace_ids[0]
        streams.extend(
            [
                AnthropicStream(
                    sonnet, first_ws, None, "standard", "0-200k", "global"
                ),  # Workbench
                AnthropicStream(sonnet, first_ws, first_key, "batch", "0-200k", "global"),
                AnthropicStream(
                    sonnet,
                    self.workspace_ids[-1],
                    self.api_key_ids[-1],
                    "standard",
                    "200k-1M",
                    "us",
                ),
                AnthropicStream(
                    ANTHROPIC_UNPRICED_MODEL,
                    self.workspace_ids[-1],
                    self.api_key_ids[-1],
                    "standard",
                    "0-200k",
                    "not_available",
                ),
            ]
        )
        # The current models, last so that the streams above keep their places.
        streams.extend(
            AnthropicStream(model, first_ws, first_key, "standard", "0-200k", "global")
            for model in RECENT_ANTHROPIC_MODELS
        )
        return tuple(dict.fromkeys(streams))
