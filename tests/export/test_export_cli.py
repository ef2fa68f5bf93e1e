"""``costpipe export`` as a command: exit codes, what reaches stdout, files
written whole or not at all, credits, hourly rows, CSV cells a spreadsheet
will not run, and the progress bar that only a terminal sees."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe import cli
from costpipe.components import ComponentContext
from costpipe.export.progress import ExportProgress
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from tests.export.conftest import read_rows

DAY = datetime(2026, 11, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)

RECORDS = [
    # OpenAI's costs come in day buckets; an hourly export must not squeeze one into an hour.
    CostRecord(
        start=DAY,
        width=timedelta(days=1),
        provider="openai",
        account="acme",
        cost_source=CostSource.BILLED,
        cost_usd=Decimal("12.345678901"),
        project_id="proj_a",
        line_item="gpt-4o, input",
    ),
    # A credit: negative money.
    CostRecord(
        start=DAY,
        width=timedelta(days=1),
        provider="openai",
        account="acme",
        cost_source=CostSource.BILLED,
        cost_usd=Decimal("-5.00"),
        line_item="credit grant",
    ),
    # Hourly usage, one model name a spreadsheet would run as a formula.
    *(
        CostRecord(
            start=DAY + h * HOUR,
            width=HOUR,
            provider="openai",
            account="acme",
            cost_source=CostSource.ESTIMATED,
            cost_usd=Decimal("0.25"),
            model='=HYPERLINK("http://x")',
            user_id="@alice",
            uncached_input_tokens=1000,
            output_tokens=200,
            requests=3,
        )
        for h in range(3)
    ),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[sinks.sqlite]]\nname = "main"\npath = "{tmp_path / "costs.sqlite"}"\n',
        encoding="utf-8",
    )

    async def fill() -> None:
        sink = SQLiteSink(
            SQLiteConfig(path=tmp_path / "costs.sqlite"), ComponentContext("sqlite.main", tmp_path)
        )
        await sink.start()
        await sink.write(RECORDS)
        await sink.close()

    asyncio.run(fill())
    return path


def export(config: Path, *options: str) -> int:
    return cli.main(
        [
            "--config",
            str(config),
            "--log-level",
            "error",
            "export",
            "--since",
            "2026-11-03",
            "--until",
            "2026-11-04",
            *options,
        ]
    )


def test_credits_are_credit_rows_without_quantities(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    assert 0 == export(config, "--basis", "billed", "-o", str(out))
    credit = [r for r in read_rows(out) if r["ChargeCategory"] == "Credit"]
    assert len(credit) == 1
    row = credit[0]
    assert Decimal(row["BilledCost"]) == Decimal("-5")
    assert row["ListCost"] == row["BilledCost"] == row["EffectiveCost"]
    for column in (
        "ConsumedQuantity",
        "ConsumedUnit",
        "PricingQuantity",
        "PricingUnit",
        "ListUnitPrice",
        "PricingCategory",
    ):
        assert row[column] is None, column
    assert sum(Decimal(r["BilledCost"]) for r in read_rows(out)) == Decimal("7.345678901")


def test_hourly_rows_keep_a_day_bucket_whole(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "hourly.csv"
    assert 0 == export(
        config, "--basis", "billed", "--format", "csv", "--granularity", "hour", "-o", str(out)
    )
    periods = {(r["period_start"], r["period_end"]) for r in read_rows(out)}
    assert periods == {("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z")}
    out = tmp_path / "usage.csv"
    assert 0 == export(
        config, "--basis", "estimated", "--format", "csv", "--granularity", "hour", "-o", str(out)
    )
    rows = read_rows(out)
    assert [(r["period_start"], r["period_end"]) for r in rows] == [
        (f"2026-11-03T0{h}:00:00Z", f"2026-11-03T0{h + 1}:00:00Z") for h in range(3)
    ]


def test_csv_cells_never_run_as_formulas(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    assert 0 == export(config, "--basis", "estimated", "-o", str(out))
    rows = read_rows(out)
    assert {r["SkuId"] for r in rows} == {'\'=HYPERLINK("http://x")'}
    assert {r["x_UserId"] for r in rows} == {"'@alice"}
    # JSON lines carry the text as it is (no spreadsheet reads them).
    out = tmp_path / "rows.jsonl"
    assert 0 == export(config, "--basis", "estimated", "--format", "jsonl", "-o", str(out))
    assert {r["model"] for r in read_rows(out)} == {'=HYPERLINK("http://x")'}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--group-by", "nope"), "unknown dimension 'nope'"),
        (("--since", "2026-11-04", "--until", "2026-11-03"), "must be later than --since"),
        (("--store", "influxdb"), "no configured sink 'influxdb'"),
    ],
)
def test_a_bad_option_exits_2_and_writes_nothing(
    config: Path, options: tuple[str, ...], message: str, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    argv = ["--config", str(config), "--log-level", "error", "export"]
    if "--since" not in options:
        argv += ["--since", "2026-11-03", "--until", "2026-11-04"]
    assert 2 == cli.main([*argv, *options])
    captured = capfdbinary.readouterr()
    assert captured.out == b""  # not even a CSV header
    assert message in captured.err.decode()


def test_an_unreachable_store_exits_1_and_leaves_no_file(tmp_path: Path, free_port: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[sinks.influxdb]]\nurl = "http://127.0.0.1:{free_port}"\ndatabase = "x"\n',
        encoding="utf-8",
    )
    out = tmp_path / "focus.csv"
    assert 1 == export(config, "-o", str(out))
    assert list(tmp_path.glob("*focus.csv*")) == []


def test_an_hourly_export_from_influxdb_is_refused(tmp_path: Path, free_port: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[sinks.influxdb]]\nurl = "http://127.0.0.1:{free_port}"\ndatabase = "x"\n',
        encoding="utf-8",
    )
    assert 2 == export(config, "--granularity", "hour")


def test_the_file_is_private(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    assert 0 == export(config, "-o", str(out))
    assert out.stat().st_mode & 0o777 == 0o600


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only() -> None:
    for stream, drawn in ((Terminal(), True), (io.StringIO(), False)):
        progress = ExportProgress(stream, DAY, DAY + 4 * HOUR)
        progress.update(10, DAY + 2 * HOUR)
        progress.finish()
        assert ("[###############---------------]  50% 10 rows" in stream.getvalue()) is drawn
        assert bool(stream.getvalue()) is drawn


def test_split_rows_add_up_to_the_record(tmp_path: Path) -> None:
    """One record priced per category (tokens, web-search calls) becomes one row per
    priced counter; money, list cost and every x_ counter add up to the record."""
    record = CostRecord(
        start=DAY, width=timedelta(days=1), provider="openai", account="acme",
        cost_source=CostSource.ESTIMATED, cost_usd=Decimal("1.234567891"), model="gpt-4o-mini",
        uncached_input_tokens=1_000_000, cached_input_tokens=100_000, output_tokens=125_000,
        web_search_calls=7, images=3, requests=420,
    )  # fmt: skip
    config = tmp_path / "config.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[sinks.sqlite]]\nname = "main"\npath = "{tmp_path / "costs.sqlite"}"\n',
        encoding="utf-8",
    )

    async def fill() -> None:
        sink = SQLiteSink(
            SQLiteConfig(path=tmp_path / "costs.sqlite"), ComponentContext("sqlite.main", tmp_path)
        )
        await sink.start()
        await sink.write([record])
        await sink.close()

    asyncio.run(fill())
    out = tmp_path / "focus.csv"
    assert 0 == export(config, "--basis", "estimated", "-o", str(out))
    rows = read_rows(out)
    assert {r["SkuMeter"] for r in rows} == {
        "Input Tokens", "Cached Input Tokens", "Output Tokens", "Web Search Calls"
    }  # fmt: skip
    calls = next(r for r in rows if r["SkuMeter"] == "Web Search Calls")
    assert (calls["PricingUnit"], calls["ConsumedUnit"]) == ("1000 Calls", "Calls")
    assert Decimal(calls["PricingQuantity"]) == Decimal("0.007")
    assert sum(Decimal(r["BilledCost"]) for r in rows) == record.cost_usd
    for field, column in (("uncached_input_tokens", "x_UncachedInputTokens"),
                          ("web_search_calls", "x_WebSearchCalls"), ("images", "x_Images"),
                          ("requests", "x_Requests")):  # fmt: skip
        assert sum(int(r[column]) for r in rows) == getattr(record, field), column
    for row in rows:
        assert Decimal(row["ListUnitPrice"]) * Decimal(row["PricingQuantity"]) == Decimal(
            row["ListCost"]
        )


def test_focus_rows_in_parquet_are_typed(config: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "focus.parquet"
    assert 0 == export(config, "--format", "parquet", "--columns", "focus", "-o", str(out))
    table = pq.read_table(out)
    assert table.schema.field("BilledCost").type == pa.decimal128(38, 18)
    assert table.schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("x_Requests").type == pa.int64()
    assert not table.schema.field("BilledCost").nullable
    assert sum(table.column("BilledCost").to_pylist()) == Decimal("7.345678901")
