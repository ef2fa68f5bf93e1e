"""Everything costpipe creates under ``state_dir`` is private to its operator:
0700 directories and 0600 files whatever the umask, after a real pass with the
SQLite sink, a spooling sink, alert state and component state directories."""

from __future__ import annotations

import stat
from pathlib import Path

from .daemon_process import PLUGIN, DaemonProcess

DOWN_SINK_PLUGIN = """
from costpipe import hookimpl
from costpipe.components import ComponentConfig, Sink
from costpipe.errors import SinkUnavailableError


class DownConfig(ComponentConfig):
    pass


class DownSink(Sink[DownConfig]):
    '''A store that is always unreachable: every batch goes to the spool.'''

    name = "down"
    config_model = DownConfig

    async def write(self, records):
        raise SinkUnavailableError("the store is down (test sink)")


@hookimpl
def register_sinks():
    return [DownSink]
"""


def modes(root: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in sorted(root.rglob("*")):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_state_dir_is_private_under_umask_022(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "static_source.py").write_text(PLUGIN)
    (plugins / "down_sink.py").write_text(DOWN_SINK_PLUGIN)
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
plugin_dirs = ["{plugins}"]
state_dir = "{state}"
lookback = "3h"

[[providers.static]]
name = "a"

[[sinks.sqlite]]
path = "{state / "costs.sqlite"}"

[[sinks.down]]
name = "store"

[[budgets]]
name = "tiny"
amount_usd = 0.01
thresholds = [50]
"""
    )
    daemon = DaemonProcess("run", "--once", "--config", str(config), cwd=tmp_path, umask=0o022)
    try:
        daemon.wait(timeout=120)
    finally:
        daemon.kill()
    daemon.wait_for("pass_done", provider="static.a")
    found = modes(state)
    # The pass really wrote what is checked below.
    assert "checkpoints.json" in found
    assert "status.json" in found
    assert any(name.startswith("spool/down.store/") for name in found), found
    assert "costs.sqlite" in found
    assert any(name.startswith("alerts/") for name in found)
    expected = {name: "0o700" if (state / name).is_dir() else "0o600" for name in found}
    assert expected == found, found
