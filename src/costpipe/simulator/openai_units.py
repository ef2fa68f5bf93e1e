"""OpenAI usage that is not plain text tokens: the data behind the simulator's
images, audio, moderations, vector-store, code-interpreter, file-search and
web-search usage endpoints, and the audio/image token splits of completions.

Like :mod:`costpipe.simulator.activity`, everything is a hash of the seed and
labels, per (stream, hour), so any window is computed on its own. A
:class:`UnitStream` is one combination of every dimension its endpoint can group
by; a :class:`UnitEvent` is that stream's usage at one second, as the amounts of
the endpoint's result fields (:data:`AMOUNTS`). Only events before "now" exist.

Vector stores are a gauge, not events: :meth:`OpenAIUnits.stored_bytes` is what
a project holds on a UTC day; any bucket starting in that day reports it.

The ground truth (:meth:`OpenAIUnits.truth`) counts what costpipe's records count
(:mod:`costpipe.providers.openai.units`), keyed by record counter, so a test
compares record sums with it directly. These streams are not billed by the
simulator's Costs API (its charges come from the token streams only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from costpipe.simulator.activity import HOUR, rhythm
from costpipe.simulator.organization import OpenAIStream
from costpipe.simulator.seeded import SeededHash

__all__ = [
    "AMOUNTS",
    "DAY",
    "MULTIMODAL",
    "OpenAIUnits",
    "UnitEvent",
    "UnitStream",
]

DAY = 86400
_U32 = 2**32

#: Result fields an event carries, per endpoint (``completions``: the extra
#: streams with audio and image tokens, text parts first).
AMOUNTS: dict[str, tuple[str, ...]] = {
    "moderations": ("input_tokens", "num_model_requests"),
    "images": ("images", "num_model_requests"),
    "audio_speeches": ("characters", "num_model_requests"),
    "audio_transcriptions": ("seconds", "num_model_requests"),
    "code_interpreter_sessions": ("num_sessions",),
    "file_search_calls": ("num_requests",),
    "web_search_calls": ("num_model_requests", "num_requests"),
    "completions": (
        "text_uncached",
        "text_cached",
        "cache_write",
        "text_output",
        "num_model_requests",
        "input_audio_tokens",
        "input_cached_audio_tokens",
        "output_audio_tokens",
        "input_image_tokens",
        "input_cached_image_tokens",
        "output_image_tokens",
    ),
}
#: Completions models of the audio/image streams (absent from the token streams).
MULTIMODAL = ("gpt-4o-audio-preview-2024-12-17", "gpt-image-1")

#: Record counter of each result field, per endpoint (what the truth sums).
_COUNTERS: dict[str, tuple[str, ...]] = {
    "moderations": ("uncached_input_tokens", "requests"),
    "images": ("images", "requests"),
    "audio_speeches": ("speech_characters", "requests"),
    "audio_transcriptions": ("transcription_seconds", "requests"),
    "code_interpreter_sessions": ("code_interpreter_sessions",),
    "file_search_calls": ("file_search_calls",),
    # num_model_requests is counted by the completions endpoint, not again here.
    "web_search_calls": ("", "web_search_calls"),
    "completions": (
        "uncached_input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "requests",
        "uncached_audio_input_tokens",
        "cached_audio_input_tokens",
        "audio_output_tokens",
        "uncached_image_input_tokens",
        "cached_image_input_tokens",
        "image_output_tokens",
    ),
}


@dataclass(frozen=True, slots=True)
class UnitStream:
    """One combination of an endpoint's ``group_by`` dimensions."""

    endpoint: str
    project_id: str
    model: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    size: str | None = None
    source: str | None = None
    context_level: str | None = None
    vector_store_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """Usage of one stream at one second (``amounts`` in :data:`AMOUNTS` order)."""

    ts: int
    stream: int
    amounts: tuple[int, ...]


class OpenAIUnits:
    """The unit streams of one organisation and their events."""

    def __init__(
        self,
        seed: int,
        project_ids: list[str],
        user_ids: list[str],
        key_of_project: Callable[[int], str],
    ) -> None:
        self._hash = SeededHash(seed)
        self.project_ids = list(project_ids)
        self.streams = _streams(self._hash, project_ids, user_ids, key_of_project)
        self._cache: dict[int, tuple[UnitEvent, ...]] = {}

    def events(self, endpoint: str, lo: int, hi: int, now: int) -> Iterator[UnitEvent]:
        """Events of *endpoint* with ``lo <= ts < min(hi, now)``."""
        hi = min(hi, now)
        hour = lo - lo % HOUR
        while hour < hi:
            for event in self._hour(hour):
                if lo <= event.ts < hi and self.streams[event.stream].endpoint == endpoint:
                    yield event
            hour += HOUR

    def completions(
        self, lo: int, hi: int, now: int
    ) -> Iterator[tuple[OpenAIStream, tuple[int, ...]]]:
        """The audio/image completions events in ``[lo, min(hi, now))``, each
        as the completions stream it belongs to (batch false, default tier)."""
        for event in self.events("completions", lo, hi, now):
            unit = self.streams[event.stream]
            stream = OpenAIStream(
                "completions", unit.model or "", unit.project_id, unit.user_id,
                unit.api_key_id or "", False, "default",
            )  # fmt: skip
            yield stream, event.amounts

    def stored_bytes(self, project: int, day_start: int) -> int:
        """Bytes project number *project* holds in vector stores on the UTC day
        starting at *day_start* (a gauge: the same for every bucket of the day)."""
        w = self._hash.words("openai", "vector_stores", project, day_start)
        return 0 if w[0] % 5 == 0 else 1_000_000 + w[1] % 3_000_000_000

    def truth(
        self, start: int, end: int, now: int, group: Callable[..., str]
    ) -> dict[str, dict[str, int]]:
        """Record counters per group of the usage in ``[start, end)`` before *now*.

        ``group(ts, model, project, user)`` names an event's group. Vector
        stores count ``usage_bytes`` byte-days for each UTC day inside
        ``[start, end)`` that has begun before *now* (what daily buckets serve:
        the day in progress reports what is held so far), under the day's start
        and the project."""
        sums: dict[str, dict[str, int]] = {}
        for endpoint, counters in _COUNTERS.items():
            for event in self.events(endpoint, start, end, now):
                stream = self.streams[event.stream]
                key = group(event.ts, stream.model or "", stream.project_id, stream.user_id or "")
                acc = sums.setdefault(key, {})
                for counter, amount in zip(counters, event.amounts, strict=True):
                    if counter:
                        acc[counter] = acc.get(counter, 0) + amount
        day = -(-start // DAY) * DAY
        while day + DAY <= end and day < now:
            for number, project in enumerate(self.project_ids):
                key = group(day, "", project, "")
                acc = sums.setdefault(key, {})
                acc["vector_store_byte_days"] = acc.get(
                    "vector_store_byte_days", 0
                ) + self.stored_bytes(number, day)
            day += DAY
        return sums

    def _hour(self, hour: int) -> tuple[UnitEvent, ...]:
        hit = self._cache.get(hour)
        if hit is None:
            if len(self._cache) > 10_000:  # bounded memory, not correctness
                self._cache.clear()
            hit = self._cache[hour] = self._generate(hour)
        return hit

    def _generate(self, hour: int) -> tuple[UnitEvent, ...]:
        chance = int((0.2 + 0.7 * rhythm(hour)) * _U32)
        made: list[UnitEvent] = []
        for index, stream in enumerate(self.streams):
            w = self._hash.words("openai", "units", index, hour)
            if w[0] >= chance:
                continue
            for j in range(1 + w[1] % 2):
                b = self._hash.words("openai", "units", index, hour, j)
                made.append(UnitEvent(hour + b[0] % HOUR, index, _amounts(stream, b)))
        made.sort(key=lambda event: (event.ts, event.stream))
        return tuple(made)


def _amounts(stream: UnitStream, w: tuple[int, ...]) -> tuple[int, ...]:
    endpoint = stream.endpoint
    requests = 1 + w[1] % 6
    if endpoint == "moderations":
        return (requests * (10 + w[2] % 400), requests)
    if endpoint == "images":
        return (requests * (1 + w[2] % 4), requests)
    if endpoint == "audio_speeches":
        return (requests * (20 + w[2] % 4000), requests)
    if endpoint == "audio_transcriptions":
        return (requests * (1 + w[2] % 600), requests)
    if endpoint == "code_interpreter_sessions":
        return (1 + w[2] % 3,)
    if endpoint == "file_search_calls":
        return (requests * (1 + w[2] % 3),)
    if endpoint == "web_search_calls":
        return (requests, requests * (1 + w[2] % 3))
    audio = stream.model == MULTIMODAL[0]
    text_in = requests * (50 + w[2] % 800)
    cached = text_in * (w[3] % 40) // 100
    write = text_in * (w[4] % 8) // 100 if w[4] % 3 == 0 else 0
    media_in = requests * (100 + w[5] % 2000)
    media_cached = media_in * (w[6] % 30) // 100
    media_out = requests * (w[7] % 1500)
    text_out = requests * (10 + w[7] % 300)
    media = (media_in - media_cached, media_cached, media_out)
    none = (0, 0, 0)
    return (
        text_in - cached - write,
        cached,
        write,
        text_out,
        requests,
        *(media if audio else none),
        *(none if audio else media),
    )


def _streams(
    h: SeededHash,
    project_ids: list[str],
    user_ids: list[str],
    key_of_project: Callable[[int], str],
) -> tuple[UnitStream, ...]:
    streams: list[UnitStream] = []
    for p, project in enumerate(project_ids):
        key = key_of_project(p)
        user = user_ids[p % len(user_ids)] if user_ids else None

        def by_user(endpoint: str, **extra: str | None) -> UnitStream:
            return UnitStream(endpoint, project, user_id=user, api_key_id=key, **extra)  # noqa: B023

        level = ("low", "medium", "high")[p % 3]
        vector_store = "vs_" + h.token(24, "openai", "vs", p)
        streams += [
            by_user("moderations", model="omni-moderation-latest"),
            by_user("images", model="gpt-image-1", size="1024x1024", source="image.generation"),
            by_user("images", model="gpt-image-1", size="1536x1024", source="image.edit"),
            by_user("audio_speeches", model="tts-1"),
            by_user("audio_transcriptions", model="whisper-1"),
            UnitStream("code_interpreter_sessions", project),
            by_user("file_search_calls", vector_store_id=vector_store),
            by_user("web_search_calls", model="gpt-4.1-2025-04-14", context_level=level),
            *(by_user("completions", model=model) for model in MULTIMODAL),
        ]
        if p == 0:
            # Calls made without a user: user_id is null when grouped by it.
            streams.append(
                UnitStream(
                    "images",
                    project,
                    model="dall-e-3",
                    size="1024x1792",
                    source="image.generation",
                    api_key_id=key,
                )
            )
    return tuple(streams)


def day_of(ts: int) -> str:
    """The UTC date of *ts*, as the truth's ``day`` groups name it."""
    return datetime.fromtimestamp(ts, UTC).date().isoformat()
