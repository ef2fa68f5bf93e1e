"""The final object of an answer, however its bytes are split into chunks."""

from __future__ import annotations

import pytest

from costpipe.providers.ollama.usage import FinalObject, UsageKind, usage_of

NDJSON = (
    b'{"model":"m","response":"a","done":false}\n'
    b'{"model":"m","response":"b","done":false}\n'
    b'{"model":"m","response":"","done":true,"done_reason":"stop","total_duration":9,'
    b'"prompt_eval_count":4,"eval_count":2}\n'
)
SSE = (
    b'data: {"model":"m","choices":[{"text":"a"}]}\r\n\r\n'
    b'data: {"model":"m","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}\r\n\r\n'
    b"data: [DONE]\r\n\r\n"
)


def _splits(data: bytes) -> list[list[bytes]]:
    """Every way to cut *data* in two, byte by byte, and in three at a few places."""
    cuts = [[data[:i], data[i:]] for i in range(len(data) + 1)]
    cuts += [[data[:i], data[i : i + 7], data[i + 7 :]] for i in range(0, len(data), 5)]
    cuts.append([bytes([b]) for b in data])
    return cuts


@pytest.mark.parametrize(
    ("content_type", "data", "route"),
    [
        ("application/x-ndjson", NDJSON, "api/generate"),
        ("text/event-stream", SSE, "v1/completions"),
    ],
)
def test_usage_is_the_same_for_every_chunking(content_type: str, data: bytes, route: str) -> None:
    seen = set()
    for chunks in _splits(data):
        final = FinalObject(content_type, 1 << 20)
        for chunk in chunks:
            final.feed(chunk)
        usage = usage_of(route, final.result(), 5)
        seen.add((usage.kind, usage.model, usage.input_tokens, usage.output_tokens))
    assert {(UsageKind.COUNTED, "m", 4, 2)} == seen


def test_a_line_over_the_bound_is_never_taken_for_the_final_object() -> None:
    final = FinalObject("application/x-ndjson", 4096)
    final.feed(NDJSON[:60])
    final.feed(b'{"model":"m","response":"' + b"x" * 5000)
    final.feed(b'","done":true,"prompt_eval_count":1,"eval_count":1}')
    assert usage_of("api/generate", final.result(), 0).kind is UsageKind.UNCOUNTED


def test_a_stream_without_its_done_object_is_uncounted() -> None:
    final = FinalObject("application/x-ndjson", 1 << 20)
    final.feed(NDJSON.split(b"\n", 2)[0] + b"\n")
    assert usage_of("api/chat", final.result(), 0).kind is UsageKind.UNCOUNTED
