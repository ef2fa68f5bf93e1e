"""The view a dashboard link asks for: only what the controls offer, bounded."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

from costpipe.anomalies.history import Bucket
from costpipe.anomalies.messages import dashboard_link
from costpipe.config.sections import AnomalyConfig
from costpipe.dashboard.controls import Controls
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.urlstate import (
    MAX_FILTER_VALUES,
    MAX_PARAMETERS,
    MAX_VALUE_LENGTH,
    LinkState,
    parse_link,
)
from costpipe.dashboard.viewmodel import FILTER_DIMENSIONS, Selection
from costpipe.query.api import Basis, Granularity


def _args(link: str) -> dict[str, list[bytes]]:
    """What Tornado hands Panel as ``session_args`` for *link*."""
    query = parse_qs(urlsplit(link).query, keep_blank_values=True)
    return {name: [v.encode() for v in values] for name, values in query.items()}


def test_an_anomaly_link_is_read_back_as_the_view_it_names() -> None:
    rule = AnomalyConfig(
        name="spike", group_by="project_id", filters={"provider": ["openai", "anthropic"]}
    )
    bucket = Bucket("day", date(2026, 11, 18), None, 15, complete=False)
    link = dashboard_link("https://costs.example.org/", rule, "proj_search", bucket, "model")
    assert link is not None
    assert parse_link(_args(link), FILTER_DIMENSIONS) == LinkState(
        preset=Preset.TODAY,
        group_by="model",
        granularity=Granularity.HOUR,
        basis=Basis.BEST,
        filters={"provider": ("openai", "anthropic"), "project_id": ("proj_search",)},
    )


def test_a_user_or_key_anomaly_link_is_read_back_with_its_filter() -> None:
    """The main anomaly case ("which user drove the spike"): the link's group
    is a user or an API key, and the view it names is that user's or key's."""
    bucket = Bucket("day", date(2026, 11, 18), None, 15, complete=False)
    for dimension, group in (("user_id", "user_chen"), ("api_key_id", "key_search")):
        rule = AnomalyConfig(name="spike", group_by=dimension, filters={"provider": ["openai"]})
        link = dashboard_link("https://costs.example.org/", rule, group, bucket, "model")
        assert link is not None
        state = parse_link(_args(link), FILTER_DIMENSIONS)
        assert state.filters == {"provider": ("openai",), dimension: (group,)}
        controls = Controls(Selection(), top=8, csv=lambda: None)
        assert controls.apply_link(state)
        assert controls.selection().filters == {"provider": ("openai",), dimension: (group,)}


def test_user_and_key_options_are_escaped_labels_of_the_raw_values() -> None:
    controls = Controls(Selection(), top=8, csv=lambda: None)
    hostile = '<img src=x onerror="alert(1)">'
    controls.set_filter_options({"user_id": [hostile, "alice"], "api_key_id": [hostile]})
    for dimension in ("user_id", "api_key_id"):
        widget = controls.filters[dimension]
        assert widget.options["&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"] == hostile
        # The browser sends the label; the query gets the raw value.
        widget.value = [hostile]
        assert controls.selection().filters[dimension] == (hostile,)


def test_unknown_names_and_values_outside_the_choices_are_ignored() -> None:
    state = parse_link(
        {
            "preset": [b"yesterday", b"last_30_days"],  # the first valid one wins
            "granularity": [b"minute"],
            "basis": [b"<script>alert(1)</script>"],
            "group_by": [b"model\n"],
            "account": [b"openai-prod"],  # no filter widget for accounts
            "debug": [b"1"],
            "model": [b"\xff\xfe", b"", b"gpt-4o", b"gpt-4o"],  # not UTF-8, empty, repeat
        },
        FILTER_DIMENSIONS,
    )
    assert state == LinkState(preset=Preset.LAST_30_DAYS, filters={"model": ("gpt-4o",)})


def test_counts_and_lengths_are_bounded() -> None:
    long = "m" * (MAX_VALUE_LENGTH + 1)
    many = [f"model-{i}".encode() for i in range(MAX_FILTER_VALUES * 3)]
    state = parse_link({"model": [long.encode(), *many]}, FILTER_DIMENSIONS)
    assert state.filters["model"] == tuple(f"model-{i}" for i in range(MAX_FILTER_VALUES))
    # Past MAX_PARAMETERS pairs nothing more is read, not even a valid preset.
    flood = {"x": [b"1"] * MAX_PARAMETERS, "preset": [b"today"]}
    assert parse_link(flood, FILTER_DIMENSIONS).is_empty


def test_controls_take_a_link_and_keep_free_filter_values_as_text() -> None:
    controls = Controls(Selection(), top=8, csv=lambda: None)
    hostile = '<img src=x onerror="alert(1)">'
    state = LinkState(
        preset=Preset.TODAY,
        granularity=Granularity.HOUR,
        basis=Basis.ESTIMATED,
        group_by="model",
        filters={"model": (hostile,), "provider": ("openai",)},
    )
    assert controls.apply_link(state)
    selection = controls.selection()
    assert (selection.preset, selection.granularity, selection.basis, selection.group_by) == (
        Preset.TODAY,
        Granularity.HOUR,
        Basis.ESTIMATED,
        "model",
    )
    assert selection.filters == {"model": (hostile,), "provider": ("openai",)}
    assert controls.filters["model"].labels == ["&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"]


def test_a_group_by_not_offered_waits_and_an_invalid_one_changes_nothing() -> None:
    controls = Controls(Selection(), top=8, csv=lambda: None)
    assert not controls.apply_link(LinkState(group_by="team"))
    assert controls.selection().group_by == "provider"
    controls.set_tags(["team"])
    assert controls.apply_link(LinkState(group_by="team"))
    assert controls.selection().group_by == "team"
