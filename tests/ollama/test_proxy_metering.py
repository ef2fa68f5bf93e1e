"""Through the proxy against the fake Ollama: byte-identical answers, each request
metered once with Ollama's exact token counts and the right caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from costpipe.records import CostSource
from costpipe.simulator.ollama_api import expected_counts
from tests.ollama.conftest import ALICE_TOKEN, BOB_TOKEN, Setup

CHAT = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "why is the sky blue"},
]
CHAT_TEXT = "be brief\nwhy is the sky blue"
PROMPT = "write a haiku about GPUs"
EMBED = ["first passage of text", "second one"]
EMBED_TOKENS = sum(expected_counts(t)[0] for t in EMBED)

#: (path, body, line item, expected (input, output) tokens or None when the answer has none)
CASES: list[tuple[str, dict[str, Any], str, tuple[int, int] | None]] = [
    ("/api/chat", {"model": "llama3.2", "messages": CHAT}, "api/chat", expected_counts(CHAT_TEXT)),
    (
        "/api/chat",
        {"model": "llama3.2", "messages": CHAT, "stream": False},
        "api/chat",
        expected_counts(CHAT_TEXT),
    ),
    (
        "/api/generate",
        {"model": "qwen2.5-coder:7b", "prompt": PROMPT},
        "api/generate",
        expected_counts(PROMPT),
    ),
    (
        "/api/generate",
        {"model": "qwen2.5-coder:7b", "prompt": PROMPT, "stream": False},
        "api/generate",
        expected_counts(PROMPT),
    ),
    ("/api/embed", {"model": "nomic-embed-text", "input": EMBED}, "api/embed", (EMBED_TOKENS, 0)),
    (
        "/v1/chat/completions",
        {"model": "llama3.2", "messages": CHAT},
        "v1/chat/completions",
        expected_counts(CHAT_TEXT),
    ),
    (
        "/v1/chat/completions",
        {
            "model": "llama3.2",
            "messages": CHAT,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "v1/chat/completions",
        expected_counts(CHAT_TEXT),
    ),
    (
        "/v1/chat/completions",
        {"model": "llama3.2", "messages": CHAT, "stream": True},
        "v1/chat/completions:uncounted",
        None,
    ),
    (
        "/v1/completions",
        {"model": "llama3.2", "prompt": PROMPT},
        "v1/completions",
        expected_counts(PROMPT),
    ),
    (
        "/v1/completions",
        {
            "model": "llama3.2",
            "prompt": PROMPT,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "v1/completions",
        expected_counts(PROMPT),
    ),
    (
        "/v1/completions",
        {"model": "llama3.2", "prompt": PROMPT, "stream": True},
        "v1/completions:uncounted",
        None,
    ),
    (
        "/v1/embeddings",
        {"model": "nomic-embed-text", "input": EMBED},
        "v1/embeddings",
        (EMBED_TOKENS, 0),
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "body", "line_item", "tokens"), CASES)
async def test_answer_is_byte_identical_and_metered_once(
    setup: Setup,
    path: str,
    body: dict[str, Any],
    line_item: str,
    tokens: tuple[int, int] | None,
) -> None:
    """The client sees exactly Ollama's status, content type and bytes; the request
    becomes one record of one request with Ollama's token counts, for its caller."""
    direct = await setup.post(setup.fake.base_url, path, body, token=None)
    proxied = await setup.post(setup.proxy_url, path, body)
    assert direct == proxied
    assert direct[0] == 200

    records = await setup.records()
    assert [(r.line_item, r.requests) for r in records] == [(line_item, 1)]
    record = records[0]
    assert (record.user_id, record.project_id) == ("alice", "research")
    assert record.api_key_id.startswith("key-")
    expected = (0, 0) if tokens is None else tokens
    assert expected == (record.uncached_input_tokens, record.output_tokens)
    assert record.model == body["model"] if ":" in body["model"] else body["model"] + ":latest"
    # No rate configured: the tokens are kept and the money is unknown, never $0 "free".
    assert record.cost_source is CostSource.UNPRICED


@pytest.mark.asyncio
async def test_concurrent_clients_are_each_metered_once_to_their_caller(setup: Setup) -> None:
    """60 requests from two callers at once, streamed and not, native and
    OpenAI-compatible: per caller, the requests and tokens add up exactly."""
    jobs = []
    expected: dict[str, list[int]] = {"alice": [0, 0, 0], "bob": [0, 0, 0]}
    for index in range(60):
        user, token = ("alice", None) if index % 3 else ("bob", BOB_TOKEN)
        prompt = f"question number {index} " + "word " * (index % 7)
        if index % 2:
            path, body = (
                "/api/generate",
                {"model": "llama3.2", "prompt": prompt, "stream": index % 4 == 1},
            )
        else:
            path, body = "/v1/completions", {"model": "llama3.2", "prompt": prompt}
        inp, out = expected_counts(prompt)
        totals = expected[user]
        totals[0] += 1
        totals[1] += inp
        totals[2] += out
        jobs.append(setup.post(setup.proxy_url, path, body, token=token or _alice()))
    answers = await asyncio.gather(*jobs)
    assert {status for status, _, _ in answers} == {200}

    records = await setup.records()
    got: dict[str, list[int]] = {}
    for record in records:
        totals = got.setdefault(record.user_id, [0, 0, 0])
        totals[0] += record.requests
        totals[1] += record.uncached_input_tokens
        totals[2] += record.output_tokens
    assert expected == got


def _alice() -> str:
    return ALICE_TOKEN


@pytest.mark.asyncio
async def test_stream_chunks_pass_before_the_stream_ends(setup: Setup) -> None:
    """The fake holds its stream after the first chunk until the client has it: a
    proxy that buffered would never deliver it (the wait would time out)."""
    setup.fake.gate = asyncio.Event()
    body = {"model": "llama3.2", "messages": CHAT}
    async with setup.session.post(
        setup.proxy_url + "/api/chat", json=body, headers={"Authorization": f"Bearer {_alice()}"}
    ) as response:
        first = await asyncio.wait_for(response.content.readline(), timeout=20)
        assert b'"done":false' in first
        setup.fake.gate.set()
        rest = await response.read()
    assert b'"done":true' in rest
    records = await setup.records()
    assert [r.requests for r in records] == [1]
