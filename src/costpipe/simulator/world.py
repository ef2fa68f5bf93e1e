"""One provider's simulated world: its organisation, activity and billing together.

Both the HTTP handlers and the ground truth read usage only through
:meth:`World.bursts`, which is what makes "truth equals what was served" hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Generic, TypeVar

from costpipe.simulator.activity import Activity, Burst, Profile
from costpipe.simulator.billing import anthropic_charges, anthropic_cost, openai_cost
from costpipe.simulator.openai_units import OpenAIUnits
from costpipe.simulator.options import SimulatorOptions
from costpipe.simulator.organization import AnthropicOrg, AnthropicStream, OpenAIOrg, OpenAIStream
from costpipe.simulator.spikes import Spikes

__all__ = ["AnthropicWorld", "OpenAIWorld", "World"]

StreamT = TypeVar("StreamT", OpenAIStream, AnthropicStream)


class World(Generic[StreamT]):
    """Streams and their bursts for one provider."""

    provider: str
    streams: Sequence[StreamT]
    activity: Activity
    spikes: Spikes
    """Injected spikes (:mod:`costpipe.simulator.spikes`), applied to every read."""

    def bursts(self, lo: int, hi: int, now: int) -> list[Burst]:
        """Bursts with ``lo <= ts < min(hi, now)``, spikes applied."""
        return self.spikes.apply(self.provider, self.streams, self.activity.bursts(lo, hi, now))

    def cost_usd(self, burst: Burst) -> Decimal:
        """Exact dollars billed for *burst*."""
        raise NotImplementedError

    def cost_by_model(self, burst: Burst) -> list[tuple[str, Decimal]]:
        """Dollars of *burst* keyed by the ``model`` its cost rows report."""
        return [(self.labels_of(burst)[0], self.cost_usd(burst))]

    def labels(self, stream: StreamT) -> tuple[str, str, str]:
        """(model, project, user) of a stream, as ground truth groups them; ``""``
        stands for null (no user, default workspace, no key)."""
        raise NotImplementedError

    def labels_of(self, burst: Burst) -> tuple[str, str, str]:
        """:meth:`labels` of the stream *burst* belongs to."""
        return self.labels(self.streams[burst.stream])


def _label(stream: OpenAIStream | AnthropicStream) -> str:
    return repr(stream)


class OpenAIWorld(World[OpenAIStream]):
    provider = "openai"

    def __init__(self, options: SimulatorOptions) -> None:
        self.org = OpenAIOrg(options)
        self.streams = self.org.streams
        profiles = [Profile(_label(s), s.kind) for s in self.streams]
        horizon = int(options.revision_horizon.total_seconds())
        self.activity = Activity(options.seed, self.provider, profiles, horizon)
        self.spikes = Spikes()
        # The other usage endpoints and the audio/image completions (regular
        # projects and users only, not the hostile names appended to the org).
        self.units = OpenAIUnits(
            options.seed,
            self.org.project_ids[: options.projects],
            self.org.user_ids[: options.users],
            self.org.key_of_project,
        )

    def cost_usd(self, burst: Burst) -> Decimal:
        return openai_cost(self.streams[burst.stream], burst)

    def labels(self, stream: OpenAIStream) -> tuple[str, str, str]:
        return stream.model, stream.project_id, stream.user_id or ""


class AnthropicWorld(World[AnthropicStream]):
    provider = "anthropic"

    def __init__(self, options: SimulatorOptions) -> None:
        self.org = AnthropicOrg(options)
        self.streams = self.org.streams
        self.ending_at_strict = options.anthropic_ending_at == "strict"
        profiles = [
            Profile(_label(s), "long_context" if s.context_window == "200k-1M" else "messages")
            for s in self.streams
        ]
        horizon = int(options.revision_horizon.total_seconds())
        self.activity = Activity(options.seed, self.provider, profiles, horizon)
        self.spikes = Spikes()

    def cost_usd(self, burst: Burst) -> Decimal:
        return anthropic_cost(self.streams[burst.stream], burst)

    def cost_by_model(self, burst: Burst) -> list[tuple[str, Decimal]]:
        # Web-search rows of the cost report have a null model.
        cents: dict[str, Decimal] = {}
        for charge in anthropic_charges(self.streams[burst.stream], burst):
            key = charge.model or ""
            cents[key] = cents.get(key, Decimal(0)) + charge.cents
        return [(model, amount / 100) for model, amount in cents.items()]

    def labels(self, stream: AnthropicStream) -> tuple[str, str, str]:
        # Anthropic's usage report has no end-user dimension: "user" is the API key.
        return stream.model, stream.workspace_id or "", stream.api_key_id or ""
