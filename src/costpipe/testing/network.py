"""Loopback ports for tests: a free one to listen on, or a closed one to fail on."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    For servers that cannot bind port 0 themselves (aiosmtpd's ``Controller``)
    and for "unreachable receiver" fixtures: connecting to it is refused. The
    port is free when returned; bind it promptly.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
