"""``costpipe dashboard``: the arguments and the entry point the CLI calls.

Command-line values override ``[dashboard]`` in the config. Panel is an
optional extra; without it the command says how to install it and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from costpipe.config.settings import Settings
from costpipe.errors import ConfigError

__all__ = ["add_arguments", "run_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--port``, ``--address`` and ``--basic-auth`` (defaults from the config)."""
    parser.add_argument("--port", type=int, default=None, help="TCP port (default 5006).")
    parser.add_argument(
        "--address",
        default=None,
        help="Bind address (default 127.0.0.1; expose only behind --basic-auth).",
    )
    parser.add_argument(
        "--basic-auth",
        default=None,
        metavar="USER:PASS",
        help="Require this login for every page and the websocket.",
    )


def run_from_args(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted; return the process exit code."""
    missing = [m for m in ("panel", "hvplot", "pandas") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"costpipe dashboard needs {', '.join(missing)}: pip install 'costpipe[dashboard]'",
            file=sys.stderr,
        )
        return 2
    from costpipe.dashboard.server import parse_basic_auth, serve

    config = settings.dashboard
    address = args.address or config.address
    port = config.port if args.port is None else args.port
    secret = config.basic_auth.get_secret_value() if config.basic_auth else None
    basic_auth = args.basic_auth or secret
    try:
        parse_basic_auth(basic_auth)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if basic_auth is None and address not in ("127.0.0.1", "localhost", "::1"):
        # Spend data is sensitive; say so loudly rather than refuse (a reverse
        # proxy may do the authentication).
        print(f"warning: serving on {address} without --basic-auth", file=sys.stderr)
    serve(settings, address, port, basic_auth)
    return 0
