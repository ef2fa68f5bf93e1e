"""``costpipe dashboard``: the arguments and the entry point the CLI calls.

Command-line values override ``[dashboard]`` in the config. Panel is an
optional extra; without it the command says how to install it and exits 2.

The login never travels on the command line, where every local user can read
it (``ps``, ``/proc/<pid>/cmdline``): it comes from ``[dashboard] basic_auth``
(normally ``"${DASHBOARD_AUTH}"``, i.e. the environment) or from a file named
by ``--basic-auth-file``. The old ``--basic-auth USER:PASS`` is refused with a
message that says what to use instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from costpipe.config.settings import Settings
from costpipe.errors import ConfigError

__all__ = ["add_arguments", "read_basic_auth_file", "run_from_args"]

_ON_THE_COMMAND_LINE = (
    "--basic-auth puts the password on the command line, where every local user can read it; "
    'use --basic-auth-file FILE (one line "user:password", mode 0600) or '
    '[dashboard] basic_auth = "${DASHBOARD_AUTH}" with the variable in the environment'
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--port``, ``--address``, ``--basic-auth-file`` and ``--trusted-proxy``."""
    parser.add_argument("--port", type=int, default=None, help="TCP port (default 5006).")
    parser.add_argument(
        "--address",
        default=None,
        help="Bind address (default 127.0.0.1; expose only with a login and TLS in front).",
    )
    parser.add_argument(
        "--basic-auth-file",
        type=Path,
        default=None,
        metavar="FILE",
        help='Require the login in FILE (one line "user:password") for every page and the '
        "websocket; overrides [dashboard] basic_auth.",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="store_true",
        default=False,
        help="Believe X-Forwarded-Proto/-For from the reverse proxy in front (set only when "
        "the dashboard is reachable through that proxy alone).",
    )
    # Refused, not removed: an old script gets a message that says what to do.
    parser.add_argument("--basic-auth", default=None, help=argparse.SUPPRESS)


def read_basic_auth_file(path: Path) -> str:
    """The ``user:password`` on the first line of *path* (trailing newline dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--basic-auth-file", f"cannot read {path}: {exc.strerror}") from exc
    lines = text.splitlines()
    return lines[0] if lines else ""


def run_from_args(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted; return the process exit code."""
    if args.basic_auth is not None:
        print(f"error: {_ON_THE_COMMAND_LINE}", file=sys.stderr)
        return 2
    missing = [
        m for m in ("panel", "hvplot", "pandas", "jinja2") if importlib.util.find_spec(m) is None
    ]
    if missing:
        print(
            f"costpipe dashboard needs {', '.join(missing)}: pip install 'costpipe[dashboard]'",
            file=sys.stderr,
        )
        return 2
    from costpipe.dashboard.auth import Credentials
    from costpipe.dashboard.server import serve

    config = settings.dashboard
    address = args.address or config.address
    port = config.port if args.port is None else args.port
    try:
        if args.basic_auth_file is not None:
            basic_auth: str | None = read_basic_auth_file(args.basic_auth_file)
        else:
            basic_auth = config.basic_auth.get_secret_value() if config.basic_auth else None
        if basic_auth is not None:
            Credentials.parse(basic_auth)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if basic_auth is None and address not in ("127.0.0.1", "localhost", "::1"):
        # Spend data is sensitive; say so loudly rather than refuse (a reverse
        # proxy may do the authentication).
        print(f"warning: serving on {address} without a login", file=sys.stderr)
    serve(settings, address, port, basic_auth, trusted_proxy=args.trusted_proxy)
    return 0
