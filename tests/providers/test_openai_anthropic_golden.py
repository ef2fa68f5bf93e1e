"""Golden page cases of the OpenAI and Anthropic decoders: page bytes in, records out.

Cases live in ``tests/providers/cases/{openai,anthropic}/<endpoint>/<case>/`` in
the form :mod:`tests.providers_extra.golden` describes (``page.json`` as sent,
``params.json`` with the requested ``window`` and the ``account``,
``expected.jsonl`` with one record per line or one ``{"error": ...}`` line
naming the JSON path of the value that refuses the page). Prices come from the
bundled price table. ``COSTPIPE_UPDATE_GOLDEN=1`` rewrites ``expected.jsonl``
from the decoders; review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import structlog

from costpipe.errors import MalformedDataError
from costpipe.providers.anthropic import decode as anthropic
from costpipe.providers.anthropic.provider import AnthropicPricer
from costpipe.providers.bucketed import Endpoint, Scope
from costpipe.providers.openai import decode as openai
from costpipe.providers.planning import DecodedPage, UsagePricer
from costpipe.records import Window
from tests.providers_extra.golden import CASES, Case, expected, record_json, write_expected

UPDATE = os.environ.get("COSTPIPE_UPDATE_GOLDEN") == "1"

Decode = Callable[[Endpoint[Any], Scope, bytes], DecodedPage]

#: (provider, endpoint folder) -> (the decode function, the endpoint)
ENDPOINTS: dict[tuple[str, str], tuple[Decode, Endpoint[Any]]] = {
    ("openai", "costs"): (openai.decode, openai.COSTS),
    **{("openai", name): (openai.decode, e) for name, e in openai.ENDPOINTS.items()},
    ("anthropic", "cost_report"): (anthropic.decode, anthropic.COSTS),
    **{
        ("anthropic", e.path.rsplit("/organizations/", 1)[1].replace("/", "_")): (
            anthropic.decode,
            e,
        )
        for e in anthropic.USAGE_ENDPOINTS
    },
}


def cases() -> list[Case]:
    found = []
    for provider, endpoint in ENDPOINTS:
        where = CASES / provider / endpoint
        # A new endpoint without a folder is reported by the test below, not a crash.
        for folder in sorted(where.iterdir()) if where.is_dir() else []:
            if folder.is_dir():
                found.append(Case(provider, endpoint, folder.name, folder))
    return found


def run(case: Case) -> list[dict[str, Any]]:
    decode, endpoint = ENDPOINTS[(case.provider, case.endpoint)]
    params = case.params()
    start, end = params["window"]
    log = structlog.get_logger("golden")
    pricer = (
        AnthropicPricer("golden", None, log)
        if case.provider == "anthropic"
        else UsagePricer(case.provider, "golden", None, log)
    )
    scope = Scope(
        params.get("account", "main"),
        Window(datetime.fromisoformat(start), datetime.fromisoformat(end)),
        pricer,
    )
    body = (case.folder / "page.json").read_bytes()
    try:
        page = decode(endpoint, scope, body)
    except MalformedDataError as exc:
        return [{"error": str(exc)}]
    lines = [record_json(r) for r in page.records]
    lines.sort(key=lambda line: json.dumps(line, sort_keys=True))
    return [*lines, {"has_more": page.has_more, "next_page": page.next_page}]


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.id)
def test_golden_case(case: Case) -> None:
    got = run(case)
    if UPDATE:
        write_expected(case, got)
    assert expected(case) == got


def test_every_endpoint_has_cases_that_decode_and_cases_that_refuse() -> None:
    """Every endpoint the providers read has cases, and a decoder pinned only by
    happy pages (or only by broken ones) pins little."""
    kinds: dict[tuple[str, str], set[bool]] = {key: set() for key in ENDPOINTS}
    for case in cases():
        kinds[(case.provider, case.endpoint)].add(any("error" in x for x in expected(case)))
    assert all(found == {True, False} for found in kinds.values()), kinds
