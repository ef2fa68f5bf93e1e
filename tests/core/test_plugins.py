"""Plugin discovery: entry points, loose files, and the errors users see."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from costpipe.errors import PluginError
from costpipe.plugins import build_plugin_manager

PROVIDER_PLUGIN = """
from typing import ClassVar
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

__version__ = "{version}"

class {cls}(StaticProvider):
    name: ClassVar[str] = "{name}"

@hookimpl
def register_providers():
    return [{cls}]
"""


def write_plugin(folder: Path, module: str, name: str, version: str = "1.0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    cls = "".join(part.title() for part in name.split("_")) + "Provider"
    path.write_text(PROVIDER_PLUGIN.format(version=version, cls=cls, name=name))
    return path


def install_distribution(site: Path, module: str, name: str, version: str) -> None:
    """A real installed distribution with an entry point, as pip would leave it."""
    write_plugin(site, module, name, version)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[costpipe]\n{name} = {module}\n")


def test_entry_point_plugins_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(tmp_path, "costpipe_acme", "acme_gateway", "2.3.4")
    monkeypatch.syspath_prepend(str(tmp_path))
    _pm, registry = build_plugin_manager(builtins=())
    assert registry.get("providers", "acme_gateway") is not None
    info = next(p for p in registry.plugins if p.name == "acme_gateway")
    assert info.version == "2.3.4"
    assert info.source == "entry point of costpipe_acme"
    assert info.components == ["providers.acme_gateway"]


def test_loose_files_in_plugin_folders_are_loaded(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "inhouse", "inhouse", "0.1")
    _pm, registry = build_plugin_manager([tmp_path / "plugins"], builtins=(), entry_points=False)
    assert registry.names("providers") == ["inhouse"]
    assert registry.plugins[0].source.endswith("inhouse.py")


def test_two_components_with_one_name_are_rejected_naming_both(tmp_path: Path) -> None:
    write_plugin(tmp_path, "first", "twin")
    write_plugin(tmp_path, "second", "twin")
    with pytest.raises(PluginError) as caught:
        build_plugin_manager([tmp_path], builtins=(), entry_points=False)
    message = str(caught.value)
    assert "providers.twin is provided twice" in message
    assert "'first'" in message
    assert "'second'" in message


def test_a_misspelled_hook_names_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text(
        textwrap.dedent(
            """
            from costpipe import hookimpl

            @hookimpl
            def register_provider():
                return []
            """
        )
    )
    with pytest.raises(PluginError, match=r"typo.*register_provider"):
        build_plugin_manager([tmp_path], builtins=(), entry_points=False)


def test_a_plugin_that_fails_to_import_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\n")
    with pytest.raises(PluginError, match=r"broken\.py failed to import.*not_a_real_module_xyz"):
        build_plugin_manager([tmp_path], builtins=(), entry_points=False)


def test_a_broken_entry_point_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "costpipe_bad-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: costpipe_bad\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[costpipe]\nbad = costpipe_bad_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"plugin 'bad' \(entry point costpipe_bad_missing\)"):
        build_plugin_manager(builtins=())


def test_a_register_hook_returning_a_non_component_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_text(
        "from costpipe import hookimpl\n\n@hookimpl\ndef register_sinks():\n    return [dict]\n"
    )
    with pytest.raises(PluginError, match=r"'odd'.*not a subclass of Sink"):
        build_plugin_manager([tmp_path], builtins=(), entry_points=False)


def test_a_missing_plugin_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        build_plugin_manager([tmp_path / "nowhere"], builtins=(), entry_points=False)
