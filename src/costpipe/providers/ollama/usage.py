"""Reading a request's usage from what Ollama answered, without holding the answer.

The proxy passes every chunk on as it arrives and feeds it to a :class:`FinalObject`
tracker, which keeps only what metering needs: the last NDJSON line of a native
stream (Ollama's ``done`` object with the counts), the last ``data: {...}`` event
of an OpenAI-compatible stream (the usage chunk when the client asked for
``stream_options.include_usage``), or the whole body of a non-streamed answer,
up to ``max_metered_bytes``. :func:`usage_of` then decodes that object.

Wire formats, from Ollama's source (github.com/ollama/ollama): ``api/types.go``
(``Metrics``: ``total_duration``, ``load_duration``, ``prompt_eval_count``,
``eval_count``, ``eval_duration``, nanoseconds and tokens; ``EmbedResponse``)
and ``openai/openai.go`` (``Usage``: ``prompt_tokens``, ``completion_tokens``;
``EmbeddingUsage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import msgspec

__all__ = ["METERED_ROUTES", "FinalObject", "Usage", "UsageKind", "usage_of"]

#: Path -> route name (the record's line item). Everything else is forwarded unmetered.
METERED_ROUTES: dict[str, str] = {
    "/api/chat": "api/chat",
    "/api/generate": "api/generate",
    "/api/embed": "api/embed",
    "/v1/chat/completions": "v1/chat/completions",
    "/v1/completions": "v1/completions",
    "/v1/embeddings": "v1/embeddings",
}
_MAX_MODEL = 200


class _OpenAIUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Final(msgspec.Struct):
    """The fields of every final object metering reads; others are skipped."""

    model: str = ""
    done: bool | None = None
    done_reason: str = ""
    prompt_eval_count: int = 0
    eval_count: int = 0
    total_duration: int = 0
    usage: _OpenAIUsage | None = None


_DECODER = msgspec.json.Decoder(_Final)


class UsageKind(Enum):
    COUNTED = "counted"
    """Token counts read from the answer."""
    UNCOUNTED = "uncounted"
    """A served request whose answer carried no counts (an OpenAI-compatible stream
    without ``include_usage``, a cut-off stream): one request, tokens unknown."""
    SKIPPED = "skipped"
    """Not usage: a model load or unload (an empty ``/api/generate``)."""


@dataclass(frozen=True, slots=True)
class Usage:
    kind: UsageKind
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ns: int = 0


class FinalObject:
    """Keeps the last object of a response as its chunks go by (see module docs)."""

    __slots__ = ("_broken", "_limit", "_mode", "_partial", "_parts", "_size", "last")

    def __init__(self, content_type: str, limit: int) -> None:
        self._mode = (
            "ndjson"
            if content_type.startswith("application/x-ndjson")
            else "sse"
            if content_type.startswith("text/event-stream")
            else "body"
        )
        self._limit = limit
        self._partial = b""
        self._parts: list[bytes] = []
        self._size = 0
        self._broken = False
        self.last: bytes | None = None

    def feed(self, data: bytes) -> None:
        if self._mode == "body":
            self._size += len(data)
            if self._size <= self._limit:
                self._parts.append(data)  # a reference to the chunk, not a copy
            else:
                self._parts.clear()
                self._broken = True
            return
        newline = data.rfind(b"\n")
        if newline < 0:
            self._keep_partial(self._partial + data)
            return
        stop = newline
        while True:
            before = data.rfind(b"\n", 0, stop)
            if before >= 0:
                line = data[before + 1 : stop]
            elif self._broken:
                line = b""
            else:
                line = self._partial + data[:stop]
            if self._wanted(line):
                self.last = line
                break
            if before < 0:
                break
            stop = before
        self._broken = False
        self._keep_partial(data[newline + 1 :])

    def _keep_partial(self, partial: bytes) -> None:
        if len(partial) > self._limit:
            self._partial, self._broken = b"", True
        else:
            self._partial = partial

    def _wanted(self, line: bytes) -> bool:
        if self._mode == "sse":
            return line.startswith(b"data: {")
        return bool(line.strip())

    def result(self) -> bytes | None:
        """The final object's JSON, or ``None`` if there is none (or it was too big)."""
        if self._mode == "body":
            return None if self._broken else b"".join(self._parts)
        if not self._broken and self._wanted(self._partial):
            self.last = self._partial
        if self.last is None:
            return None
        return self.last[6:] if self._mode == "sse" else self.last


def _model_name(raw: str) -> str:
    name = raw if raw.isprintable() else ""
    return name[:_MAX_MODEL]


def usage_of(route: str, final: bytes | None, elapsed_ns: int) -> Usage:
    """The usage of one successful request on *route* whose last object is *final*.

    *elapsed_ns* is the proxy's own measure of the request, used as its GPU time
    on the OpenAI-compatible routes, which report no durations.
    """
    if final is None:
        return Usage(UsageKind.UNCOUNTED)
    try:
        obj = _DECODER.decode(final)
    except msgspec.DecodeError:
        return Usage(UsageKind.UNCOUNTED)
    model = _model_name(obj.model)
    if route.startswith("v1/"):
        if obj.usage is None or min(obj.usage.prompt_tokens, obj.usage.completion_tokens) < 0:
            return Usage(UsageKind.UNCOUNTED, model)
        return Usage(
            UsageKind.COUNTED,
            model,
            obj.usage.prompt_tokens,
            obj.usage.completion_tokens,
            max(elapsed_ns, 0),
        )
    if min(obj.prompt_eval_count, obj.eval_count, obj.total_duration) < 0:
        return Usage(UsageKind.UNCOUNTED, model)
    if route == "api/embed":
        if obj.prompt_eval_count == 0 and obj.total_duration == 0:
            return Usage(UsageKind.UNCOUNTED, model)
        return Usage(UsageKind.COUNTED, model, obj.prompt_eval_count, 0, obj.total_duration)
    if obj.done is not True:
        return Usage(UsageKind.UNCOUNTED, model)
    if obj.done_reason in ("load", "unload"):
        return Usage(UsageKind.SKIPPED, model)
    return Usage(
        UsageKind.COUNTED, model, obj.prompt_eval_count, obj.eval_count, obj.total_duration
    )
