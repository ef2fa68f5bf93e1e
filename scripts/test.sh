#!/usr/bin/env bash
# Run costpipe's full test suite on a fresh Debian 12 / Ubuntu 24.04 machine.
#
# Installs what the tests need where it is missing: InfluxDB 1.x and Chromium
# from the distribution (root or sudo), and the Python packages into ./.venv.
# The tests start their own throw-away influxd on free loopback ports, so no
# database server has to be running beforehand. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "scripts/test.sh: need root (or sudo) to install: $*" >&2; return 1; fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
need_influxd=0; need_chromium=0
command -v influxd >/dev/null || need_influxd=1
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need_chromium=1
if [ $need_influxd = 1 ] || [ $need_chromium = 1 ]; then
  echo "== installing what the tests need from the distribution"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  [ $need_influxd = 1 ] && apt_install influxdb influxdb-client
  # Debian calls it chromium; Ubuntu ships chromium-browser. Outside CI the browser
  # tests are skipped (not failed) when neither can be installed.
  if [ $need_chromium = 1 ]; then
    apt_install chromium || apt_install chromium-browser ||
      echo "scripts/test.sh: no Chromium package; browser tests will be skipped" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
# The optional C line-protocol encoder (hatch_build.py) needs a compiler and
# Python's headers; the tests compare it with the Python encoder, so CI has them.
if ! command -v gcc >/dev/null || ! "$PYTHON" -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  echo "== installing a C compiler and Python's headers (the C encoder; optional)"
  { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt_install gcc python3-dev; } ||
    echo "scripts/test.sh: no compiler or headers; costpipe uses its Python encoder" >&2
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "== installing costpipe and its test dependencies"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && .venv/bin/python -m pip install -q -e "$plugin"
done

echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

echo "== tests"
exec .venv/bin/python -m pytest "$@"
