"""InfluxDB sink behaviour beyond the contract: batching, retries, partial writes, auth."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from aiohttp import web
from pydantic import ValidationError

from costpipe.components import ComponentContext
from costpipe.config.settings import parse_config
from costpipe.errors import AuthError, SinkUnavailableError
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import CostQuery
from costpipe.recordcodec import record_from_json
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.testing.influxd import InfluxdServer
from costpipe.testing.sink_contract import T0, contract_record
from tests.storage.conftest import InfluxFactory

ALL_TIME = CostQuery(T0 - timedelta(days=365), T0 + timedelta(days=365))


class FakeInflux:
    """A real HTTP server speaking just enough of the 1.x API, scripted per test."""

    def __init__(self, write_statuses: list[int]) -> None:
        self.write_statuses = write_statuses
        self.writes: list[bytes] = []
        self.headers: list[dict[str, str]] = []

    async def write(self, request: web.Request) -> web.Response:
        self.writes.append(await request.read())
        self.headers.append(dict(request.headers))
        status = self.write_statuses.pop(0) if self.write_statuses else 204
        if status == 204:
            return web.Response(status=204)
        return web.json_response({"error": f"scripted {status}"}, status=status)

    async def query(self, request: web.Request) -> web.Response:
        return web.json_response({"results": [{"statement_id": 0}]})


@pytest.fixture
async def fake_influx() -> AsyncIterator[tuple[FakeInflux, str]]:
    fake = FakeInflux([])
    app = web.Application()
    app.router.add_post("/write", fake.write)
    app.router.add_route("*", "/query", fake.query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def make_sink(tmp_path: Path, **options: object) -> InfluxDBSink:
    config = InfluxDBConfig.model_validate({"retry_base_seconds": 0.01, **options})
    sink = InfluxDBSink(config, ComponentContext("influxdb.test", tmp_path))
    await sink.start()
    return sink


async def test_large_writes_are_split_into_batches(influx_sink_factory: InfluxFactory) -> None:
    sink = await influx_sink_factory(batch_size=100)
    records = [
        contract_record(start=T0 + i * timedelta(hours=1), cost_usd=Decimal("0.01"))
        for i in range(1050)
    ]
    await sink.write(records)
    assert Decimal("10.50") == await sink.reader().total(ALL_TIME)


async def test_5xx_is_retried_then_succeeds(
    tmp_path: Path, fake_influx: tuple[FakeInflux, str]
) -> None:
    fake, url = fake_influx
    fake.write_statuses = [503, 500]
    sink = await make_sink(tmp_path, url=url, max_tries=3)
    await sink.write([contract_record()])
    assert len(fake.writes) == 3
    await sink.close()


async def test_5xx_past_the_retry_bound_is_unavailable(
    tmp_path: Path, fake_influx: tuple[FakeInflux, str]
) -> None:
    fake, url = fake_influx
    fake.write_statuses = [500] * 10
    sink = await make_sink(tmp_path, url=url, max_tries=3)
    with pytest.raises(SinkUnavailableError, match="3 attempts"):
        await sink.write([contract_record()])
    assert len(fake.writes) == 3
    await sink.close()


async def test_refused_credentials_raise_auth_error_without_retry(
    tmp_path: Path, fake_influx: tuple[FakeInflux, str]
) -> None:
    fake, url = fake_influx
    fake.write_statuses = [401]
    sink = await make_sink(tmp_path, url=url, username="u", password="wrong")
    with pytest.raises(AuthError):
        await sink.write([contract_record()])
    assert len(fake.writes) == 1
    assert fake.headers[0]["Authorization"].startswith("Basic ")
    await sink.close()


async def test_token_is_sent_as_token_header(
    tmp_path: Path, fake_influx: tuple[FakeInflux, str]
) -> None:
    fake, url = fake_influx
    sink = await make_sink(tmp_path, url=url, token="s3cret")
    await sink.write([contract_record()])
    assert fake.headers[0]["Authorization"] == "Token s3cret"
    await sink.close()


async def test_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    server = InfluxdServer(tmp_path / "never-started")  # free port, nothing listening
    sink = await make_sink(tmp_path, url=server.url, max_tries=2)
    with pytest.raises(SinkUnavailableError):
        await sink.write([contract_record()])
    with pytest.raises(SinkUnavailableError):
        await sink.check_connection()
    await sink.close()


async def test_partial_write_dead_letters_the_refused_point_and_keeps_the_rest(
    influxd: InfluxdServer, influx_sink_factory: InfluxFactory
) -> None:
    """A field type conflict (someone wrote `requests` as a string in one shard)
    makes InfluxDB drop one point without naming it: the sink bisects, stores
    every other point, and files the refused one with InfluxDB's reason."""
    sink = await influx_sink_factory()
    database = sink.config.database
    async with sink._require_http().session.post(
        f"{influxd.url}/write",
        params={"db": database},
        data=b'ai_costs,provider=other requests="oops" 1772409600000000000\n',
    ) as response:
        assert response.status == 204
    clash = contract_record(start=T0, cost_usd=Decimal(1))
    fine = [
        contract_record(start=T0 + timedelta(days=60 + i), cost_usd=Decimal(2)) for i in range(5)
    ]
    await sink.write([*fine[:2], clash, *fine[2:]])
    assert Decimal(10) == await sink.reader().total(ALL_TIME)
    letters = [json.loads(line) for line in sink.dead_letters.path.read_text().splitlines()]
    assert [clash.key] == [record_from_json(letter["record"]).key for letter in letters]
    assert "field type conflict" in letters[0]["reason"]
    assert letters[0]["line"].startswith("ai_costs,")


async def test_retention_policy_is_written_and_read(
    influxd: InfluxdServer, influx_sink_factory: InfluxFactory
) -> None:
    database = f"rp_{uuid.uuid4().hex[:10]}"
    sink = await influx_sink_factory(database=database)
    http = sink._require_http()
    await http.query(
        f'CREATE RETENTION POLICY "short" ON "{database}" DURATION 1000w REPLICATION 1', "POST"
    )
    rp_sink = await influx_sink_factory(database=database, retention_policy="short")
    await rp_sink.write([contract_record(cost_usd=Decimal(3))])
    assert Decimal(3) == await rp_sink.reader().total(ALL_TIME)
    assert Decimal(0) == await sink.reader().total(ALL_TIME)


async def test_check_connection_pings(influx_sink_factory: InfluxFactory) -> None:
    sink = await influx_sink_factory()
    assert "InfluxDB 1." in await sink.check_connection()


async def test_disabled_tls_verification_logs_a_warning(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        sink = await make_sink(tmp_path, url="https://127.0.0.1:1", verify_tls=False, max_tries=1)
    await sink.close()
    assert [e["event"] for e in logs if e["event"] == "tls_verification_disabled"] == [
        "tls_verification_disabled"
    ]


def test_config_from_toml_keeps_the_password_secret() -> None:
    _, registry = build_plugin_manager(entry_points=False)
    settings = parse_config(
        {
            "sinks": {
                "influxdb": [{"url": "http://127.0.0.1:8086", "password": "${PW}", "username": "u"}]
            }
        },
        registry,
        env={"PW": "hunter2"},
    )
    config = settings.sinks[0].config
    assert isinstance(config, InfluxDBConfig)
    assert config.password.get_secret_value() == "hunter2" if config.password else False
    assert "hunter2" not in repr(config)
    assert (config.batch_size, config.create_database, config.verify_tls) == (5000, True, True)


def test_unknown_config_key_is_an_error_naming_the_path() -> None:
    from costpipe.errors import ConfigError

    _, registry = build_plugin_manager(entry_points=False)
    with pytest.raises(ConfigError, match=r"sinks\.influxdb\[0\]\.batchsize"):
        parse_config({"sinks": {"influxdb": [{"batchsize": 1}]}}, registry, env={})


# -- credentials written into the URL (issue 13.7) ---------------------------------------

URL_PASSWORD = "s3cr3t-pw-9931"


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://writer:{URL_PASSWORD}@")


def assert_no_credentials(*texts: object) -> None:
    for text in texts:
        assert URL_PASSWORD not in str(text)
        assert "writer:" not in str(text)


async def test_url_credentials_never_reach_logs_errors_or_check_output(
    influxd: InfluxdServer, tmp_path: Path
) -> None:
    """Against a real influxd (no auth: any user info is accepted) and a port with
    nothing behind it: start, write, check --connect, and every failure path."""
    database = f"cred_{uuid.uuid4().hex[:10]}"
    down = InfluxdServer(tmp_path / "never-started")
    with structlog.testing.capture_logs() as logs:
        sink = await make_sink(
            tmp_path / "up", url=with_credentials(influxd.url), database=database, verify_tls=False
        )
        await sink.write([contract_record(cost_usd=Decimal(4))])
        answer = await sink.check_connection()
        broken = await make_sink(tmp_path / "down", url=with_credentials(down.url), max_tries=1)
        no_create = await make_sink(
            tmp_path / "down2", url=with_credentials(down.url), max_tries=1, create_database=False
        )
        failures = []
        for attempt in (
            broken.write([contract_record()]),
            no_create.write([contract_record()]),
            broken.check_connection(),
        ):
            with pytest.raises(SinkUnavailableError) as caught:
                await attempt
            failures.append(caught.value)
        with pytest.raises(SinkUnavailableError) as query_failure:
            await broken.reader().total(ALL_TIME)
    assert Decimal(4) == await sink.reader().total(ALL_TIME)
    await sink.close()
    await broken.close()
    await no_create.close()
    events = {e["event"] for e in logs}
    assert {"tls_verification_disabled", "influxdb_not_ready", "influxdb_unavailable"} <= events
    assert f"pinged {influxd.url} (InfluxDB 1." in answer
    assert_no_credentials(logs, answer, *failures, query_failure.value)
    assert down.url in str(failures[0])


async def test_url_credentials_are_sent_as_basic_auth(
    fake_influx: tuple[FakeInflux, str], tmp_path: Path
) -> None:
    fake, url = fake_influx
    sink = await make_sink(tmp_path, url=with_credentials(url))
    await sink.write([contract_record()])
    await sink.close()
    expected = "Basic " + base64.b64encode(f"writer:{URL_PASSWORD}".encode()).decode()
    assert [expected] == [h["Authorization"] for h in fake.headers]


def test_invalid_url_config_does_not_echo_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        InfluxDBConfig.model_validate({"url": ["http://writer:" + URL_PASSWORD + "@h"]})
    assert_no_credentials(caught.value)
