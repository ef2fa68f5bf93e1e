"""Pages a hostile or broken provider could send: endless, oversized, gzip bombs.

Each is a fault (:class:`~costpipe.simulator.options.FaultOptions`) aimed at the
client's limits, not at its parsing: every body here is valid JSON of the
vendor's shape. The simulator must stay small while it sends them, so the
oversized and compressed bodies are generated as they are written, never
held whole:

* ``oversized_page_bytes``: the page's JSON, then JSON whitespace up to the
  size (trailing whitespace is valid JSON), sent chunked;
* ``gzip_bomb_bytes``: the same padded text, deflated as it is sent with
  ``Content-Encoding: gzip``. The whitespace is compressed once per 1 MiB
  block after a full flush (which resets the compressor's history, so the
  block's bytes stand alone) and that block is repeated; the gzip header and
  trailer (CRC-32 and length of the inflated text) are written here.
"""

from __future__ import annotations

import base64
import struct
import zlib

from aiohttp import web

from costpipe.simulator.buckets import encode_openai_cursor

__all__ = [
    "anthropic_endless_page",
    "litellm_endless_page",
    "openai_endless_page",
    "send_gzip_bomb",
    "send_padded",
]

_CHUNK = 1 << 20
_PADDING = b" " * _CHUNK
#: gzip member header: magic, deflate, no flags, mtime 0 (deterministic), no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def openai_endless_page(now: int, number: int) -> dict[str, object]:
    """An empty OpenAI page that claims more, with a cursor never seen before."""
    return {
        "object": "page",
        "data": [],
        "has_more": True,
        "next_page": encode_openai_cursor(now, number),
    }


def anthropic_endless_page(number: int) -> dict[str, object]:
    """An empty Anthropic page that claims more, with a cursor never seen before."""
    cursor = "page_" + base64.b64encode(f"endless-{number}".encode()).decode()
    return {"data": [], "has_more": True, "next_page": cursor}


def litellm_endless_page(page: int, page_size: int) -> dict[str, object]:
    """An empty LiteLLM page whose ``total_pages`` is always one more than this page."""
    return {
        "data": [],
        "total": (page + 1) * page_size,
        "page": page,
        "page_size": page_size,
        "total_pages": page + 1,
    }


def _copy_headers(source: web.Response, target: web.StreamResponse) -> None:
    for name, value in source.headers.items():
        if name.lower() not in ("content-length", "content-type", "content-encoding"):
            target.headers[name] = value
    target.content_type = "application/json"


def _body(response: web.Response) -> bytes:
    body = response.body
    if not isinstance(body, bytes):
        raise TypeError("hostile page transforms need a bytes body")
    return body


async def send_padded(
    request: web.Request, response: web.Response, size: int
) -> web.StreamResponse:
    """Send *response*'s JSON padded with whitespace to at least *size* bytes."""
    body = _body(response)
    padded = web.StreamResponse(status=response.status)
    _copy_headers(response, padded)
    padded.enable_chunked_encoding()
    await padded.prepare(request)
    await padded.write(body)
    remaining = size - len(body)
    while remaining > 0:
        piece = _PADDING if remaining >= _CHUNK else _PADDING[:remaining]
        await padded.write(piece)
        remaining -= len(piece)
    await padded.write_eof()
    return padded


async def send_gzip_bomb(
    request: web.Request, response: web.Response, size: int
) -> web.StreamResponse:
    """Send *response*'s JSON padded to *size* bytes, gzip-compressed as it goes."""
    body = _body(response)
    bomb = web.StreamResponse(status=response.status)
    _copy_headers(response, bomb)
    bomb.headers["Content-Encoding"] = "gzip"
    bomb.enable_chunked_encoding()
    await bomb.prepare(request)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    await bomb.write(_GZIP_HEADER + deflate.compress(body) + deflate.flush(zlib.Z_FULL_FLUSH))
    crc = zlib.crc32(body)
    remaining = max(0, size - len(body))
    block = b""
    while remaining >= _CHUNK:
        if not block:
            block = deflate.compress(_PADDING) + deflate.flush(zlib.Z_FULL_FLUSH)
        await bomb.write(block)
        crc = zlib.crc32(_PADDING, crc)
        remaining -= _CHUNK
    tail = _PADDING[:remaining]
    crc = zlib.crc32(tail, crc)
    final = deflate.compress(tail) + deflate.flush(zlib.Z_FINISH)
    inflated = len(body) + max(0, size - len(body))
    await bomb.write(final + struct.pack("<II", crc & 0xFFFFFFFF, inflated & 0xFFFFFFFF))
    await bomb.write_eof()
    return bomb
