"""Estimates of the current models within 0.5 % of their list price, end to end:
a real ``costpipe backfill`` process against the simulator into SQLite, with
gpt-5.4 (about half of it in OpenAI's Priority tier), gpt-5.4-mini,
claude-opus-4-6 and claude-sonnet-4-6. The simulator bills at its own,
hand-typed list prices (``costpipe.simulator.catalog``), independently of
costpipe's price path; every estimate records the price data it came from, and
a ``costpipe reprice`` right after the backfill finds nothing to change."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.pricing.genai import SOURCE
from costpipe.simulator import Simulator, SimulatorOptions

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 11, 17, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
MODELS = {
    "openai": ("gpt-5.4-2026-03-05", "gpt-5.4-mini-2026-03-17"),
    "anthropic": ("claude-opus-4-6", "claude-sonnet-4-6"),
}
TOLERANCE = Decimal("0.005")

pytestmark = pytest.mark.slow


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(seed=17, now=NOW))
    await sim.start()
    yield sim
    await sim.stop()


async def costpipe(config: Path, sim: Simulator, *args: str) -> str:
    env = {
        **os.environ,
        "SIM_OPENAI_KEY": sim.openai_admin_key,
        "SIM_ANTHROPIC_KEY": sim.anthropic_admin_key,
    }
    # The simulator runs on this event loop: the CLI must run alongside it.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-format",
        "json",
        *args,
        "--since",
        SINCE.date().isoformat(),
        "--until",
        UNTIL.date().isoformat(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(240):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-3000:]
    return out.decode()


def write_config(path: Path, sim: Simulator) -> None:
    path.write_text(
        f"""
[pipeline]
state_dir = "{path.parent / "state"}"

[[providers.openai]]
name = "sim"
api_key = "${{SIM_OPENAI_KEY}}"
base_url = "{sim.openai_base_url}"

[[providers.anthropic]]
name = "sim"
api_key = "${{SIM_ANTHROPIC_KEY}}"
base_url = "{sim.anthropic_base_url}"

[[sinks.sqlite]]
path = "{path.parent / "costs.sqlite"}"
"""
    )


def estimated(db: Path, model: str, searches: bool = False) -> tuple[Decimal, set[str], set[str]]:
    """Dollars, cost sources and price sources of *model*'s token rows (or of
    its web-search rows: the simulator bills searches without a model)."""
    with sqlite3.connect(db) as conn:
        nanos, sources, prices = conn.execute(
            "SELECT SUM(cost_nanos), group_concat(DISTINCT cost_source),"
            " group_concat(DISTINCT price_source) FROM costs"
            f" WHERE basis = 'estimated' AND model = ? AND line_item {'=' if searches else '!='}"
            " 'web_search'",
            (model,),
        ).fetchone()
    return (
        Decimal(nanos or 0) / 10**9,
        set((sources or "").split(",")),
        set((prices or "").split(",")),
    )


async def test_current_models_are_estimated_within_half_a_percent_of_list_price(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    write_config(config, simulator)
    await costpipe(config, simulator, "backfill")
    db = tmp_path / "costs.sqlite"
    for provider, models in MODELS.items():
        truth = simulator.truth(provider, SINCE, UNTIL, by="model")
        for model in models:
            listed = truth[model].cost_usd
            cost, sources, prices = estimated(db, model)
            assert listed > 1, f"{model}: too little usage to compare"
            assert {"estimated"} == sources, model
            assert {SOURCE} == prices, model
            assert abs(cost - listed) <= listed * TOLERANCE, (model, cost, listed)
            if provider == "anthropic":
                # Web searches at the list's $10 per 1,000, the simulator's 1 cent each.
                with sqlite3.connect(db) as conn:
                    (calls,) = conn.execute(
                        "SELECT SUM(web_search_calls) FROM costs WHERE model = ?", (model,)
                    ).fetchone()
                assert calls > 0
                assert (Decimal(calls) / 100, {"estimated"}, {SOURCE}) == estimated(
                    db, model, searches=True
                )

    with sqlite3.connect(db) as conn:
        priority, total, priority_usd, all_usd = conn.execute(
            "SELECT SUM(CASE WHEN line_item = 'completions, priority' THEN output_tokens END),"
            " SUM(output_tokens),"
            " SUM(CASE WHEN line_item = 'completions, priority' THEN cost_nanos END),"
            " SUM(cost_nanos) FROM costs WHERE basis = 'estimated' AND model = ?",
            (MODELS["openai"][0],),
        ).fetchone()
    # About half the tokens, and about two thirds of the money: Priority costs 2x.
    assert 0.3 < priority / total < 0.7
    assert priority_usd / all_usd > priority / total

    # Prices as of the backfill: a reprice right after it has nothing to change.
    summary = await costpipe(config, simulator, "reprice")
    assert ", 0 changed" in summary, summary
