"""``[[sinks.influxdb]]``: write records to InfluxDB over the 1.x HTTP API (the IO).

The package is split as data flows through it: :mod:`.config` (the options),
:mod:`.encoder` (records to line protocol, pure), this writer (requests,
retries, dead letters) and :mod:`.reader` (the query layer in InfluxQL).

The 1.x ``/write`` and ``/query`` endpoints are what InfluxDB 1.x serves, what
InfluxDB 2.x serves for v1 compatibility (DBRP mapping, token as password or
``token``) and what InfluxDB 3 Core accepts, so this one sink serves all three.

Requests go through aiohttp directly rather than aioinflux: costpipe owns the
line-protocol encoder (:mod:`costpipe.sinks.influxdb.encoder`) because aioinflux escapes
tags wrongly, and with raw aiohttp the sink sees the status and error body of
every write, which it needs to split a partial write into accepted points and
dead letters.

Guarantees of :meth:`InfluxDBSink.write`: it returns once every point was
acknowledged (204) or written to the dead-letter file with InfluxDB's reason;
it raises :class:`SinkUnavailableError` once connection errors or 5xx outlast
the bounded retries, and :class:`AuthError` on 401/403.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp
import backoff
from yarl import URL

from costpipe.components import ComponentContext, Sink
from costpipe.errors import AuthError, SinkUnavailableError
from costpipe.hookspecs import hookimpl
from costpipe.records import CostRecord
from costpipe.redaction import mask_secrets, redact_url, safe_excerpt
from costpipe.sinks.deadletter import FILE_NAME, DeadLetterFile, short_reason, summarize
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.encoder import LineEncoder
from costpipe.sinks.influxdb.reader import InfluxDBReader, InfluxHTTP

__all__ = ["InfluxDBSink"]


class _Retryable(Exception):
    """A 5xx answer: worth another attempt."""


class InfluxDBSink(Sink[InfluxDBConfig]):
    """Stores records as points of ``ai_costs``; see the module docstring."""

    name: ClassVar[str] = "influxdb"
    config_model = InfluxDBConfig
    #: Requests in flight per sink: InfluxDB ingests faster with two, not more.
    in_flight: ClassVar[int] = 2

    def __init__(self, config: InfluxDBConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.encoder = LineEncoder()
        self.dead_letters = DeadLetterFile(context.state_dir / FILE_NAME, self.instance)
        self._session: aiohttp.ClientSession | None = None
        self._http: InfluxHTTP | None = None
        self._slots: asyncio.Semaphore | None = None
        self._staged: asyncio.Semaphore | None = None
        self._database_ready = not config.create_database
        self._unavailable = False
        self._url = URL(config.url)
        #: The URL as logs, errors and ``check --connect`` show it: no credentials.
        self.shown_url = redact_url(config.url)
        self._secrets = [s for s in (self._url.password, self._url.raw_password) if s]

    # -- life cycle ----------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        if not config.verify_tls:
            self.log.warning("tls_verification_disabled", sink=self.instance, url=self.shown_url)
        headers: dict[str, str] = {}
        url_user, url_password = self._url.user, self._url.password
        if config.token is not None:
            headers["Authorization"] = f"Token {config.token.get_secret_value()}"
        elif config.username is not None or url_user is not None:
            # Explicit settings win over user info written into the URL.
            username = config.username if config.username is not None else url_user
            if config.password is not None:
                password = config.password.get_secret_value()
            else:
                password = url_password or ""
            credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
            connector=aiohttp.TCPConnector(ssl=config.verify_tls),
        )
        # Requests go to the URL without user info, so no library error can echo it.
        self._http = InfluxHTTP(
            self._session,
            str(self._url.with_user(None)).rstrip("/"),
            config.database,
            config.retention_policy,
        )
        self._slots = asyncio.Semaphore(self.in_flight)
        self._staged = asyncio.Semaphore(self.in_flight + 1)
        self._post = backoff.on_exception(
            backoff.expo,
            (aiohttp.ClientError, TimeoutError, OSError, _Retryable),
            max_tries=config.max_tries,
            factor=config.retry_base_seconds,
            max_value=30,
            logger=None,
        )(self._post_once)
        try:
            await self._ensure_database()
        except SinkUnavailableError as exc:
            # Not fatal: writes spool until the server is back.
            self.log.warning("influxdb_not_ready", sink=self.instance, error=str(exc))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def check_connection(self) -> str:
        http = self._require_http()
        shown = self.shown_url.rstrip("/")
        try:
            async with http.session.get(f"{http.url}/ping") as response:
                version = response.headers.get("X-Influxdb-Version", "unknown")
                if response.status != 204:
                    raise SinkUnavailableError(f"{shown}/ping answered {response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkUnavailableError(f"{shown}/ping failed: {self._describe(exc)}") from None
        return f"pinged {shown} (InfluxDB {version})"

    def _describe(self, exc: BaseException) -> str:
        """``repr(exc)`` without the URL's credentials (library errors may quote the URL)."""
        text = repr(exc).replace(self.config.url, self.shown_url)
        return mask_secrets(text, self._secrets)

    def reader(self) -> InfluxDBReader:
        return InfluxDBReader(self._require_http)

    # -- writing ---------------------------------------------------------------

    async def write(self, records: Sequence[CostRecord]) -> None:
        if not records:
            return
        await self._ensure_database()
        size = self.config.batch_size
        tasks = [
            asyncio.create_task(self._write_batch(records[i : i + size]))
            for i in range(0, len(records), size)
        ]
        # Wait for every batch (each is idempotent), then report the first failure.
        results = await asyncio.gather(*tasks, return_exceptions=True)
        refused: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            refused += result
        if refused:
            # One line per write, however many points the bisection isolated one by one.
            self.log.error(
                "points_dead_lettered",
                sink=self.instance,
                points=len(refused),
                file=str(self.dead_letters.path),
                reason=summarize(Counter(short_reason(r) for r in refused)),
            )
        if self._unavailable:
            self._unavailable = False
            self.log.info("influxdb_recovered", sink=self.instance)

    async def _write_batch(self, records: Sequence[CostRecord]) -> list[str]:
        """Write one batch; returns the reasons of the points dead-lettered."""
        assert self._staged is not None
        refused: list[str] = []
        # One batch more than the requests in flight is encoded ahead, so the
        # encoder (CPU on the loop) overlaps the two posts without holding
        # a whole backfill's bodies in memory.
        async with self._staged:
            await self._deliver(list(records), refused)
        return refused

    async def _deliver(
        self, records: list[CostRecord], refused: list[str], lines: list[str] | None = None
    ) -> None:
        """Post *records* (*lines*: their lines, when already known); on a 4xx,
        dead-letter what InfluxDB refused (adding the reasons to *refused*) and
        make sure the rest is written (re-sending is safe: a point overwrites itself)."""
        status, error = await self._post_body(self.encoder.encode(records))
        if status < 300:
            return
        if status in (401, 403):
            raise AuthError(f"InfluxDB refused the credentials ({status}): {error}")
        if status == 404:
            self._database_ready = not self.config.create_database
            raise SinkUnavailableError(f"InfluxDB answered 404: {error}")
        if lines is None:
            # The lines are needed only now, to name and set aside the refused points.
            lines = self.encoder.lines(records)
        if len(lines) == 1:
            await self._dead_letter(records, lines, [error], refused)
            return
        named = [i for i, line in enumerate(lines) if f"unable to parse '{line}'" in error]
        if named:
            rejected = set(named)
            await self._dead_letter(
                [records[i] for i in named],
                [lines[i] for i in named],
                [_reason_for(error, lines[i]) for i in named],
                refused,
            )
            rest = [i for i in range(len(lines)) if i not in rejected]
            if rest:
                await self._deliver([records[i] for i in rest], refused, [lines[i] for i in rest])
            return
        # The error names no line (e.g. a field type conflict): bisect to find them.
        middle = len(lines) // 2
        await self._deliver(records[:middle], refused, lines[:middle])
        await self._deliver(records[middle:], refused, lines[middle:])

    async def _post_body(self, body: bytes) -> tuple[int, str]:
        assert self._slots is not None
        try:
            async with self._slots:
                result: tuple[int, str] = await self._post(body)
        except (aiohttp.ClientError, TimeoutError, OSError, _Retryable) as exc:
            if not self._unavailable:
                self._unavailable = True
                self.log.error(
                    "influxdb_unavailable", sink=self.instance, error=self._describe(exc)
                )
            raise SinkUnavailableError(
                f"InfluxDB at {self.shown_url} unavailable after "
                f"{self.config.max_tries} attempts: {self._describe(exc)}"
            ) from None
        return result

    async def _post_once(self, body: bytes) -> tuple[int, str]:
        http = self._require_http()
        async with http.session.post(
            f"{http.url}/write", params=http.write_params(), data=body
        ) as response:
            if response.status == 204:
                return 204, ""
            text = await response.text()
            if response.status >= 500:
                raise _Retryable(f"{response.status}: {safe_excerpt(text, 500, self._secrets)}")
            return response.status, _error_text(text)

    async def _dead_letter(
        self,
        records: Sequence[CostRecord],
        lines: Sequence[str],
        reasons: Sequence[str],
        refused: list[str],
    ) -> None:
        await self.dead_letters.add(list(zip(records, lines, reasons, strict=True)))
        refused += (mask_secrets(reason, self._secrets) for reason in reasons)

    async def _ensure_database(self) -> None:
        if self._database_ready:
            return
        http = self._require_http()
        try:
            await http.query(f'CREATE DATABASE "{_ident(self.config.database)}"', method="POST")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkUnavailableError(
                f"InfluxDB at {self.shown_url}: {self._describe(exc)}"
            ) from None
        self._database_ready = True

    def _require_http(self) -> InfluxHTTP:
        if self._http is None:
            raise RuntimeError(f"sink {self.instance} used before start()")
        return self._http


def _ident(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _error_text(body: str) -> str:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return body.strip()


def _reason_for(error: str, line: str) -> str:
    """InfluxDB's reason for *line* out of ``unable to parse '<line>': <reason>``."""
    marker = f"unable to parse '{line}': "
    tail = error[error.index(marker) + len(marker) :]
    reason = tail.split("\n", 1)[0]
    return reason.rsplit(" dropped=", 1)[0]


@hookimpl
def register_sinks() -> list[type[Sink[Any]]]:
    return [InfluxDBSink]
