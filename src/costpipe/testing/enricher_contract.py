"""``EnricherContract``: the behaviour every enricher must show, as a test base class.

An enricher's test module subclasses it and provides one fixture, a started
enricher whose configuration matches at least one of the sample records::

    class TestMyEnricher(EnricherContract):
        @pytest.fixture
        async def enricher(self, tmp_path):
            enricher = MyEnricher(MyConfig(...), ComponentContext("mine.test", tmp_path))
            await enricher.start()
            yield enricher
            await enricher.close()

Override ``enricher_records`` to feed records that suit the enricher better
(the default is :func:`sample_records`: several providers, users, projects
and keys, one record with every dimension empty).

The contract (see :class:`~costpipe.components.Enricher`): the batch that comes
back holds the same records, in the same order, with the same keys, money,
tokens and dimensions: only ``tags`` may change; an empty batch stays empty;
enriching is deterministic and idempotent (a record enriched twice equals one
enriched once), because the core re-fetches windows; the class names its
table and forbids unknown config keys; ``close()`` may be called twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from costpipe.components import ComponentConfig, Enricher
from costpipe.records import RECORD_FIELDS, CostRecord, CostSource

__all__ = ["EnricherContract", "sample_records"]

_TAG_FREE = set(RECORD_FIELDS) - {"tags"}


def sample_records() -> list[CostRecord]:
    """A varied batch: two providers, three users, two projects, two keys, one
    pre-existing tag, and one record with no dimension at all."""
    hour = datetime(2026, 11, 20, 9, tzinfo=UTC)
    width = timedelta(hours=1)
    rows = [
        ("openai", "user-alice", "proj_search", "key_a", "gpt-4o-2024-08-06"),
        ("openai", "user-bob", "proj_search", "key_b", "gpt-4o-mini-2024-07-18"),
        ("openai", "user-carol", "proj_ads", "key_a", "o3-2025-04-16"),
        ("anthropic", "", "wrkspc_01ads", "apikey_01x", "claude-sonnet-4-20250514"),
        ("litellm", "user-alice", "", "", "gpt-4o"),
    ]
    records = [
        CostRecord(
            start=hour + index * width,
            width=width,
            provider=provider,
            account=f"{provider}.test",
            cost_source=CostSource.BILLED,
            cost_usd=Decimal("0.000123") * (index + 1),
            model=model,
            user_id=user,
            project_id=project,
            api_key_id=key,
            line_item="usage",
            uncached_input_tokens=100 * index,
            output_tokens=10 * index,
            requests=index + 1,
        )
        for index, (provider, user, project, key, model) in enumerate(rows)
    ]
    records[1] = records[1].with_tags({"env": "prod"})
    records.append(
        CostRecord(
            start=hour,
            width=timedelta(days=1),
            provider="openrouter",
            account="openrouter.test",
            cost_source=CostSource.BILLED,
            cost_usd=Decimal("1.5"),
        )
    )
    return records


def _untagged(record: CostRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _TAG_FREE}


class EnricherContract:
    """Inherit and provide an ``enricher`` fixture (see module docs)."""

    @pytest.fixture
    def enricher_records(self) -> list[CostRecord]:
        return sample_records()

    def test_class_declares_name_and_strict_config(self, enricher: Enricher[Any]) -> None:
        """The class names its table and forbids unknown keys."""
        cls = type(enricher)
        assert isinstance(cls.name, str)
        assert cls.name
        assert issubclass(cls.config_model, ComponentConfig)
        assert cls.config_model.model_config.get("extra") == "forbid"

    def test_config_round_trips(self, enricher: Enricher[Any]) -> None:
        """Dumping the config and validating it again gives the same config."""
        config = enricher.config
        assert config == type(config).model_validate(config.model_dump())

    async def test_same_records_same_order(
        self, enricher: Enricher[Any], enricher_records: Sequence[CostRecord]
    ) -> None:
        """The batch keeps its length, order and keys."""
        enriched = await enricher.enrich(list(enricher_records))
        assert [r.key for r in enricher_records] == [r.key for r in enriched]

    async def test_only_tags_change(
        self, enricher: Enricher[Any], enricher_records: Sequence[CostRecord]
    ) -> None:
        """Money, tokens, time and every dimension come back unchanged."""
        enriched = await enricher.enrich(list(enricher_records))
        for before, after in zip(enricher_records, enriched, strict=True):
            assert _untagged(before) == _untagged(after)
            assert isinstance(after, CostRecord)

    async def test_adds_a_tag_to_some_record(
        self, enricher: Enricher[Any], enricher_records: Sequence[CostRecord]
    ) -> None:
        """The fixture's configuration tags at least one sample record (so the
        other checks are not vacuous)."""
        enriched = await enricher.enrich(list(enricher_records))
        assert any(
            before.tags != after.tags
            for before, after in zip(enricher_records, enriched, strict=True)
        )

    async def test_empty_batch(self, enricher: Enricher[Any]) -> None:
        """An empty batch comes back empty."""
        assert list(await enricher.enrich([])) == []

    async def test_idempotent(
        self, enricher: Enricher[Any], enricher_records: Sequence[CostRecord]
    ) -> None:
        """Enriching an enriched batch changes nothing (windows are re-fetched)."""
        once = list(await enricher.enrich(list(enricher_records)))
        twice = list(await enricher.enrich(once))
        assert once == twice

    async def test_deterministic(
        self, enricher: Enricher[Any], enricher_records: Sequence[CostRecord]
    ) -> None:
        """The same input gives the same tags, batch by batch or record by record."""
        whole = list(await enricher.enrich(list(enricher_records)))
        single = [r for rec in enricher_records for r in await enricher.enrich([rec])]
        assert whole == single

    async def test_check_connection_describes_what_it_checked(
        self, enricher: Enricher[Any]
    ) -> None:
        """check_connection() returns a non-empty description."""
        answer = await enricher.check_connection()
        assert isinstance(answer, str)
        assert answer

    async def test_close_twice(self, enricher: Enricher[Any]) -> None:
        """close() is idempotent."""
        await enricher.close()
        await enricher.close()
