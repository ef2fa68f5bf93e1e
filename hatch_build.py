"""Builds costpipe's optional C accelerators (the InfluxDB line-protocol
encoder, the usage-row record builder).

Each of :data:`SOURCES` is compiled with the C compiler and Python headers this
interpreter was built with (``sysconfig``). Without them, or with
``COSTPIPE_PURE_PYTHON=1``, the build goes on and costpipe uses the Python code
each replaces, whose output is the same (docs/performance.md). An editable
install puts a module beside its source; a wheel carries it, tagged for this
platform.
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

#: The C sources, each one extension module of the same name beside it.
SOURCES = (
    Path("src/costpipe/sinks/influxdb/_speedups.c"),
    Path("src/costpipe/providers/_usage_rows.c"),
)


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
        built: dict[Path, Path] = {}
        for source in SOURCES:
            name = source.stem + suffix
            if version == "editable":
                output = Path(self.root) / source.with_name(name)
            else:
                output = Path(tempfile.mkdtemp(prefix="costpipe-build-")) / name
            try:
                compile_extension(Path(self.root) / source, output)
            except Exception as error:  # any failure means: the Python code
                self.app.display_warning(
                    f"costpipe: C accelerators not built, using Python ({error})"
                )
                return  # a wheel carries all of them or none
            built[output] = source.parent.relative_to("src") / name
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for output, target in built.items():
            if version != "editable":
                build_data["force_include"][str(output)] = str(target)
            print(f"costpipe: built {output.name} with {sys.executable}", file=sys.stderr)
