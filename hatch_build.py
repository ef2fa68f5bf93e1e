"""Builds costpipe's optional C accelerator (the InfluxDB line-protocol encoder).

``src/costpipe/sinks/influxdb/_speedups.c`` is compiled with the C compiler and
Python headers this interpreter was built with (``sysconfig``). Without them, or
with ``COSTPIPE_PURE_PYTHON=1``, the build goes on and costpipe uses the Python
encoder, whose output is the same (docs/performance.md). An editable install
puts the module beside its source; a wheel carries it, tagged for this platform.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/costpipe/sinks/influxdb/_speedups.c")
PACKAGE_DIR = "costpipe/sinks/influxdb"


def compile_extension(source: Path, output: Path) -> None:
    """Compile *source* into the extension module *output*; raises on any failure."""
    if os.name != "posix":
        raise RuntimeError("only built on POSIX systems")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        raise RuntimeError(f"no Python.h in {include} (install the Python development headers)")
    link = sysconfig.get_config_var("LDSHARED")
    shared = sysconfig.get_config_var("CCSHARED") or "-fPIC"
    if not link:
        raise RuntimeError("sysconfig has no LDSHARED")
    command = [*shlex.split(link), *shlex.split(shared), "-O2", "-I", include]
    command += [str(source), "-o", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[misc,type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("COSTPIPE_PURE_PYTHON", "") not in ("", "0"):
            return
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        source = Path(self.root) / SOURCE
        if version == "editable":
            output = source.with_name("_speedups" + suffix)
        else:
            output = Path(tempfile.mkdtemp(prefix="costpipe-build-")) / ("_speedups" + suffix)
        try:
            compile_extension(source, output)
        except Exception as error:  # any failure means: the Python encoder
            self.app.display_warning(
                f"costpipe: C accelerator not built, using the Python encoder ({error})"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][str(output)] = f"{PACKAGE_DIR}/{output.name}"
        print(f"costpipe: built {output.name} with {sys.executable}", file=sys.stderr)
