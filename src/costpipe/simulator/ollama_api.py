"""A fake Ollama server speaking the 0.4 wire format, for the metering proxy's
tests, its benchmark and ``costpipe demo``.

Shapes follow Ollama's own source (github.com/ollama/ollama, tag v0.4.7):
``api/types.go`` (``ChatResponse``, ``GenerateResponse``, ``Metrics``,
``EmbedResponse``: Go marshals fields in struct order, ``omitempty`` drops zero
metrics), ``server/routes.go`` (``streamResponse``: ``application/x-ndjson``,
one object and ``\\n`` per chunk; ``c.JSON``: ``application/json;
charset=utf-8`` with no trailing newline; the errors of an unknown model:
``model 'x' not found`` from ``/api/generate``, ``model "x" not found, try
pulling it first`` from ``/api/chat`` and ``/api/embed``, both 404) and
``openai/openai.go`` (the OpenAI-compatible routes: ``data: {...}\\n\\n``
events ending in ``data: [DONE]``, the ``{"error": {"message", "type",
"param", "code"}}`` error with the status kept). ``stream_options.include_usage``
is answered as Ollama 0.5.2 and later do (commit e28f2d49): chat adds a final
chunk with empty ``choices`` and the usage; completions put a zero ``usage`` in
every chunk and add the same final chunk. 0.4 ignores the option.

Answers are deterministic (:func:`expected_counts` gives a prompt's token
counts); ``chunk_delay`` spaces streamed chunks for the benchmark's rhythm test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

__all__ = [
    "DEFAULT_MODELS",
    "FakeOllama",
    "add_routes",
    "expected_counts",
    "run_fake_ollama",
]

#: Models the fake has "pulled"; anything else is unknown, as on a fresh server.
DEFAULT_MODELS: tuple[str, ...] = ("llama3.2:latest", "qwen2.5-coder:7b", "nomic-embed-text:latest")
_WORDS = ("the", "sky", "is", "blue", "because", "of", "rayleigh", "scattering", "light", "air")
_GO_JSON = "application/json; charset=utf-8"


def _full_name(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def _dumps(value: object) -> bytes:
    # Go's encoding/json: no spaces, and <, >, & escaped (json.dumps never escapes them).
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def expected_counts(text: str) -> tuple[int, int]:
    """``(prompt, output)`` tokens the fake reports for *text* (chat: contents joined by \\n)."""
    digest = hashlib.blake2b(text.encode(), digest_size=4).digest()
    return 5 + len(text.split()), 3 + digest[0] % 13


def _prompt_text(body: dict[str, Any], route: str) -> str:
    if route == "chat":
        return "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])
    return str(body.get("prompt", ""))


def _embed_inputs(body: dict[str, Any]) -> list[str]:
    raw = body.get("input", "")
    return [str(item) for item in raw] if isinstance(raw, list) else [str(raw)]


@dataclass(slots=True)
class FakeOllama:
    """The fake's state: models, chunk spacing, and what it answered (``requests``: every
    route; ``generated``: requests a model answered)."""

    models: tuple[str, ...] = DEFAULT_MODELS
    chunk_delay: float = 0.0
    fixed_time: datetime | None = None
    """Stamp answers with this instant instead of the clock (byte-comparable answers)."""
    gate: asyncio.Event | None = None
    """If set, a native stream waits for it after its first chunk (proves a proxy does not buffer)."""
    requests: int = 0
    generated: int = 0
    _runner: web.AppRunner | None = field(default=None, repr=False)
    base_url: str = ""

    def knows(self, model: str) -> bool:
        return _full_name(model) in self.models

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        add_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on *host*:*port* (0: a free port); return the base URL."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0][1] if runner.addresses else port
        self.base_url = f"http://{host}:{bound}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- native API -----------------------------------------------------------------

    async def native(self, request: web.Request) -> web.StreamResponse:
        route = request.path.removeprefix("/api/")
        self.requests += 1
        body = await _json_body(request)
        if body is None:
            return _go_error(400, "missing request body")
        model = str(body.get("model", ""))
        if not self.knows(model):
            if route == "generate":
                return _go_error(404, f"model '{model}' not found")
            return _go_error(404, f'model "{model}" not found, try pulling it first')
        if route == "embed":
            return self._embed(model, body)
        if not _prompt_text(body, route) and not body.get("messages"):
            # An empty prompt or no messages loads the model: ``done_reason: load``, no metrics.
            load: dict[str, Any] = {"model": model, "created_at": self._created()}
            if route == "chat":
                load["message"] = {"role": "assistant", "content": ""}
                load |= {"done_reason": "load", "done": True}
            else:
                load |= {"response": "", "done": True, "done_reason": "load"}
            return web.Response(body=_dumps(load), headers={"Content-Type": _GO_JSON})
        prompt_tokens, eval_count = expected_counts(_prompt_text(body, route))
        words = [_WORDS[(prompt_tokens + i) % len(_WORDS)] for i in range(eval_count)]
        self.generated += 1
        stream = body.get("stream", True) is not False
        if not stream:
            final = self._final(route, model, " ".join(words), prompt_tokens, eval_count)
            return web.Response(body=_dumps(final), status=200, headers={"Content-Type": _GO_JSON})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            await self._pause()
            await response.write(_dumps(self._chunk(route, model, piece)) + b"\n")
            if index == 0 and self.gate is not None:
                await self.gate.wait()
        await self._pause()
        final = self._final(route, model, "", prompt_tokens, eval_count)
        await response.write(_dumps(final) + b"\n")
        await response.write_eof()
        return response

    def _embed(self, model: str, body: dict[str, Any]) -> web.Response:
        inputs = _embed_inputs(body)
        self.generated += 1
        tokens = sum(expected_counts(text)[0] for text in inputs)
        vectors = [[round(0.01 * (len(text) + i), 4) for i in range(4)] for text in inputs]
        payload = {
            "model": model,
            "embeddings": vectors,
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": tokens,
        }
        return web.Response(body=_dumps(payload), headers={"Content-Type": _GO_JSON})

    async def _pause(self) -> None:
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay)

    def _now(self) -> datetime:
        return self.fixed_time or datetime.now(UTC)

    def _created(self) -> str:
        return self._now().isoformat().replace("+00:00", "Z")

    def _chunk(self, route: str, model: str, piece: str) -> dict[str, Any]:
        head: dict[str, Any] = {"model": model, "created_at": self._created()}
        if route == "chat":
            return {**head, "message": {"role": "assistant", "content": piece}, "done": False}
        return {**head, "response": piece, "done": False}

    def _final(
        self, route: str, model: str, text: str, prompt_tokens: int, eval_count: int
    ) -> dict[str, Any]:
        head: dict[str, Any] = {"model": model, "created_at": self._created()}
        metrics = {
            "total_duration": 1_000_000 * (40 + eval_count),
            "load_duration": 2_000_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 8_000_000,
            "eval_count": eval_count,
            "eval_duration": 1_000_000 * eval_count,
        }
        if route == "chat":
            return {
                **head,
                "message": {"role": "assistant", "content": text},
                "done_reason": "stop",
                "done": True,
                **metrics,
            }
        return {**head, "response": text, "done": True, "done_reason": "stop", **metrics}

    # -- OpenAI-compatible routes ---------------------------------------------------

    async def openai(self, request: web.Request) -> web.StreamResponse:
        route = request.path.removeprefix("/v1/")
        self.requests += 1
        body = await _json_body(request)
        if body is None:
            return _openai_error(400, "invalid_request_error", "missing request body")
        model = str(body.get("model", ""))
        if not self.knows(model):
            message = f'model "{model}" not found, try pulling it first'
            return _openai_error(404, "api_error", message)
        self.generated += 1
        created = int(self._now().timestamp())
        if route == "embeddings":
            inputs = _embed_inputs(body)
            tokens = sum(expected_counts(text)[0] for text in inputs)
            data = [
                {"object": "embedding", "embedding": [0.01 * len(t), 0.02], "index": i}
                for i, t in enumerate(inputs)
            ]
            payload: dict[str, Any] = {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
            return _openai_json(payload)
        chat = route == "chat/completions"
        text = _prompt_text(body, "chat" if chat else "generate")
        prompt_tokens, eval_count = expected_counts(text)
        words = [_WORDS[(prompt_tokens + i) % len(_WORDS)] for i in range(eval_count)]
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": eval_count,
            "total_tokens": prompt_tokens + eval_count,
        }
        ident = f"chatcmpl-{prompt_tokens % 997}" if chat else f"cmpl-{prompt_tokens % 997}"
        obj = "chat.completion" if chat else "text_completion"
        if not body.get("stream", False):
            content = " ".join(words)
            choice: dict[str, Any] = (
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
                if chat
                else {"text": content, "index": 0, "finish_reason": "stop"}
            )
            payload = {
                "id": ident,
                "object": obj,
                "created": created,
                "model": model,
                "system_fingerprint": "fp_ollama",
                "choices": [choice],
                "usage": usage,
            }
            return _openai_json(payload)
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)] + [""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            finish = "stop" if last else None
            await self._pause()
            if chat:
                chunk: dict[str, Any] = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": piece},
                            "finish_reason": finish,
                        }
                    ],
                }
            else:
                chunk = {
                    "id": ident,
                    "object": "text_completion",
                    "created": created,
                    "choices": [{"text": piece, "index": 0, "finish_reason": finish}],
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                }
                if include_usage:
                    chunk["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            await response.write(b"data: " + _dumps(chunk) + b"\n\n")
            if last and include_usage:
                chunk = {**chunk, "choices": [], "usage": usage}
                await response.write(b"data: " + _dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # -- administration (forwarded by the proxy, never metered) ---------------------

    async def tags(self, request: web.Request) -> web.Response:
        self.requests += 1
        models = [{"name": m, "model": m, "size": 2019393189} for m in self.models]
        return web.Response(body=_dumps({"models": models}), headers={"Content-Type": _GO_JSON})

    async def version(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(body=_dumps({"version": "0.4.7"}), headers={"Content-Type": _GO_JSON})

    async def pull(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await _json_body(request) or {}
        name = _full_name(str(body.get("model") or body.get("name") or ""))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for status in ("pulling manifest", "verifying sha256 digest", "success"):
            await response.write(_dumps({"status": status}) + b"\n")
        if name not in self.models:
            self.models = (*self.models, name)
        await response.write_eof()
        return response

    async def root(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(text="Ollama is running", content_type="text/plain")


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _go_error(status: int, message: str) -> web.Response:
    return web.Response(
        body=_dumps({"error": message}), status=status, headers={"Content-Type": _GO_JSON}
    )


def _openai_json(payload: dict[str, Any]) -> web.Response:
    # openai.go encodes with json.NewEncoder: a trailing newline, plain application/json.
    return web.Response(body=_dumps(payload) + b"\n", headers={"Content-Type": "application/json"})


def _openai_error(status: int, kind: str, message: str) -> web.Response:
    error = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.Response(
        body=_dumps(error) + b"\n", status=status, headers={"Content-Type": "application/json"}
    )


def add_routes(app: web.Application, fake: FakeOllama) -> None:
    """Ollama's routes on *app* (none of them clash with the billing fakes' paths)."""
    for path in ("/api/chat", "/api/generate", "/api/embed"):
        app.router.add_post(path, fake.native)
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        app.router.add_post(path, fake.openai)
    app.router.add_get("/api/tags", fake.tags)
    app.router.add_get("/api/version", fake.version)
    app.router.add_post("/api/pull", fake.pull)
    app.router.add_get("/", fake.root)


@asynccontextmanager
async def run_fake_ollama(
    chunk_delay: float = 0.0, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[FakeOllama]:
    """A started fake for the duration of the block."""
    fake = FakeOllama(chunk_delay=chunk_delay)
    await fake.start(host, port)
    try:
        yield fake
    finally:
        await fake.stop()
