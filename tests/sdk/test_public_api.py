"""What a plugin author imports from ``costpipe`` itself (``costpipe.__all__``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

import costpipe
from costpipe import ComponentConfig, Duration


class ChunkedConfig(ComponentConfig):
    """A third-party component's config with a duration option (docs/plugins.md)."""

    chunk: Duration = timedelta(hours=12)


def test_every_public_name_is_importable() -> None:
    assert [] == [name for name in costpipe.__all__ if not hasattr(costpipe, name)]


def test_a_plugin_duration_reads_text_with_a_unit_like_the_core() -> None:
    assert timedelta(hours=6) == ChunkedConfig.model_validate({"chunk": "6h"}).chunk


def test_a_plugin_duration_is_written_back_as_text() -> None:
    """A default config round-trips through its TOML form."""
    assert {"chunk": "12h"} == ChunkedConfig().model_dump(mode="json", include={"chunk"})


def test_a_plugin_duration_refuses_a_bare_number() -> None:
    with pytest.raises(ValidationError, match='write "12s" for seconds'):
        ChunkedConfig.model_validate({"chunk": 12})
