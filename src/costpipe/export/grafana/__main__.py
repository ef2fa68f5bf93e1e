"""``python -m costpipe.export.grafana``: write the Grafana dashboard JSON.

Budgets come from the ``[[budgets]]`` of ``--config`` and the time zone from its
``[pipeline] timezone``; only those tables are read (validated as costpipe
validates them), so no credential needs to be set to build the dashboard.

    python -m costpipe.export.grafana --config config.toml -o dashboards/grafana/costpipe.json
    python -m costpipe.export.grafana --config config.toml --check dashboards/grafana/costpipe.json
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from costpipe.config.sections import BudgetConfig
from costpipe.export.grafana.dashboard import dashboard_json

__all__ = ["main", "read_config"]


def read_config(path: Path | None) -> tuple[list[BudgetConfig], str]:
    """The budgets and the time zone of the config at *path* (none and UTC without one)."""
    if path is None:
        return [], "UTC"
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    budgets = [BudgetConfig.model_validate(table) for table in document.get("budgets", [])]
    timezone = str(document.get("pipeline", {}).get("timezone", "UTC"))
    return budgets, timezone


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costpipe.export.grafana", description=__doc__)
    parser.add_argument("--config", type=Path, help="costpipe config with [[budgets]]")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.add_argument("--check", type=Path, help="exit 1 if this file differs from the build")
    args = parser.parse_args(argv)
    try:
        budgets, timezone = read_config(args.config)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        sys.stderr.write(f"error: {args.config}: {exc}\n")
        return 2
    text = dashboard_json(budgets, timezone)
    if args.check is not None:
        if args.check.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{args.check} is not what the generator builds; regenerate it\n")
            return 1
        return 0
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
