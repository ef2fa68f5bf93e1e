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

missing=()
command -v influxd >/dev/null || missing+=(influxdb influxdb-client)
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
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
