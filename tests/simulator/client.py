"""A minimal client for the simulator's wire formats, written from the reference
(not from the simulator's code), so the tests check the wire, not themselves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp
from multidict import CIMultiDict

Params = Sequence[tuple[str, str | int]]


def parse(raw: bytes) -> Any:
    """Parse JSON keeping every number's exact text (floats become Decimals)."""
    return json.loads(raw, parse_float=Decimal)


async def get(
    session: aiohttp.ClientSession, url: str, params: Params, headers: dict[str, str]
) -> tuple[int, CIMultiDict[str], bytes]:
    async with session.get(
        url, params=[(k, str(v)) for k, v in params], headers=headers
    ) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def all_pages(
    session: aiohttp.ClientSession, url: str, params: Params, headers: dict[str, str]
) -> list[Any]:
    """Follow ``next_page`` while ``has_more``; every page must be a 200."""
    pages: list[Any] = []
    cursor: str | None = None
    while True:
        query = [*params, *([("page", cursor)] if cursor else [])]
        status, _, body = await get(session, url, query, headers)
        assert status == 200, body
        page = parse(body)
        pages.append(page)
        if not page["has_more"]:
            assert page["next_page"] is None
            return pages
        cursor = page["next_page"]
        assert isinstance(cursor, str)
        assert cursor.startswith("page_")
        assert len(pages) < 1000, "pagination does not end"


def rows(pages: list[Any]) -> list[dict[str, Any]]:
    return [row for page in pages for bucket in page["data"] for row in bucket["results"]]


def buckets(pages: list[Any]) -> list[dict[str, Any]]:
    return [bucket for page in pages for bucket in page["data"]]
