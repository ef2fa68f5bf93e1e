"""Ground truth: exact totals of everything the simulator serves for a window.

Totals cover the usage bursts in ``[start, end)`` (and before "now"). They equal
the sums of what the endpoints serve for the same window when the window is
aligned to the queried bucket width (the Costs API and Anthropic snap a
window's start to the bucket; OpenAI Usage starts exactly at ``start_time``).

* ``cost_usd``: dollars billed. OpenAI: the exact sum of the ``amount.value``
  number texts served by ``/v1/organization/costs``. Anthropic: the exact sum of
  the ``cost_report`` ``amount`` strings divided by 100.
* Every record counter of the OpenAI usage endpoints beyond the token streams
  (moderation tokens, images, speech characters, transcription seconds,
  vector-store byte-days, sessions, file- and web-search calls, and the audio and
  image tokens of completions), from :meth:`~costpipe.simulator.openai_units.OpenAIUnits.truth`,
  named after the record field (``images``...) or, for the text categories, as
  below.
* Tokens by disjoint category, as costpipe's records count them. OpenAI:
  ``uncached_input`` = ``input_uncached_tokens`` (completions) plus embedding
  ``input_tokens``; ``cached_input`` = ``input_cached_tokens``; ``cache_write`` =
  ``input_cache_write_tokens``; ``requests`` = ``num_model_requests``.
  Anthropic: ``uncached_input_tokens``, ``cache_read_input_tokens``, the sum of
  both ``cache_creation`` fields, ``output_tokens``; ``requests`` is 0 because
  the usage report does not expose request counts.

Grouping (``by``): ``day`` (UTC date), ``model``, ``project`` (OpenAI project,
Anthropic workspace), ``user`` (OpenAI user, Anthropic API key) or ``total``.
``""`` is the key for null (no user, the default workspace, Workbench usage, a
web-search cost row without a model). Costs are attributed to model, project
and user by the simulator's own knowledge (except that Anthropic web-search
cost goes to ``""``, as its cost rows have a null model); the Costs API cannot show cost by
user, and shows a model only inside ``line_item`` text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from costpipe.simulator.activity import Burst
from costpipe.simulator.organization import AnthropicStream, OpenAIStream
from costpipe.simulator.wire import decimal_text
from costpipe.simulator.world import OpenAIWorld, World

__all__ = ["BY", "By", "Totals", "compute_truth"]

By = Literal["day", "model", "project", "user", "total"]
BY: tuple[str, ...] = ("day", "model", "project", "user", "total")


@dataclass(frozen=True, slots=True)
class Totals:
    """Exact totals of one group."""

    cost_usd: Decimal = Decimal(0)
    uncached_input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    requests: int = 0
    uncached_audio_input_tokens: int = 0
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    uncached_image_input_tokens: int = 0
    cached_image_input_tokens: int = 0
    image_output_tokens: int = 0
    images: int = 0
    speech_characters: int = 0
    transcription_seconds: int = 0
    vector_store_byte_days: int = 0
    code_interpreter_sessions: int = 0
    file_search_calls: int = 0
    web_search_calls: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))

    def as_json(self) -> dict[str, str]:
        """Every figure as an exact string."""
        return {
            "cost_usd": decimal_text(self.cost_usd),
            **{name: str(getattr(self, name)) for name in _FIELDS[1:]},
        }


_FIELDS = tuple(f.name for f in fields(Totals))
#: Totals fields named after the record counter they equal (the rest: _SHORT).
_SHORT = {
    "uncached_input_tokens": "uncached_input",
    "cached_input_tokens": "cached_input",
    "cache_write_tokens": "cache_write",
    "output_tokens": "output",
}


def _group(world: World[OpenAIStream] | World[AnthropicStream], burst: Burst, by: str) -> str:
    if by == "total":
        return "total"
    if by == "day":
        return datetime.fromtimestamp(burst.ts, UTC).date().isoformat()
    model, project, user = world.labels_of(burst)
    return {"model": model, "project": project, "user": user}[by]


def compute_truth(
    world: World[OpenAIStream] | World[AnthropicStream], start: int, end: int, now: int, by: str
) -> dict[str, Totals]:
    """Totals per group of the bursts in ``[start, end)`` before *now*, sorted by key."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    counts_requests = world.provider == "openai"
    # Plain lists while summing: Totals objects per burst cost more than the sums.
    sums: dict[str, list[Decimal | int]] = {}

    def add(key: str, cost: Decimal, burst: Burst | None) -> None:
        acc = sums.setdefault(key, [Decimal(0), 0, 0, 0, 0, 0])
        acc[0] += cost
        if burst is not None:
            acc[1] += burst.uncached
            acc[2] += burst.cached
            acc[3] += burst.write_5m + burst.write_1h
            acc[4] += burst.output
            acc[5] += burst.requests if counts_requests else 0

    for burst in world.bursts(start, end, now):
        if by == "model":
            home = world.labels_of(burst)[0]
            add(home, Decimal(0), burst)
            for model, cost in world.cost_by_model(burst):
                add(model, cost, None)
        else:
            add(_group(world, burst, by), world.cost_usd(burst), burst)
    totals = {
        key: Totals(
            Decimal(acc[0]), int(acc[1]), int(acc[2]), int(acc[3]), int(acc[4]), int(acc[5])
        )
        for key, acc in sums.items()
    }
    if isinstance(world, OpenAIWorld):
        # The other usage endpoints and the audio/image completions.
        def group(ts: int, model: str, project: str, user: str) -> str:
            return {
                "total": "total",
                "day": datetime.fromtimestamp(ts, UTC).date().isoformat(),
                "model": model,
                "project": project,
                "user": user,
            }[by]

        for key, counts in world.units.truth(start, end, now, group).items():
            named = {_SHORT.get(name, name): n for name, n in counts.items()}
            extra = Totals(Decimal(0), *(named.get(name, 0) for name in _FIELDS[1:]))
            totals[key] = totals.get(key, Totals()) + extra
    return dict(sorted(totals.items()))
