"""Private files: everything costpipe writes under ``state_dir`` is its operator's alone.

State holds spend by user and key name, alert history and undelivered
notifications, so other local users must not read it. Modes are set
explicitly with ``chmod`` after creation because the process umask can only
take permission bits away, never give them back: directories are ``0700`` and
files ``0600`` whatever the umask is.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Literal

__all__ = ["DIR_MODE", "FILE_MODE", "open_private", "private_dir", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create *path* (and missing parents) as ``0700`` directories; tighten it if it exists.

    Parents that already exist are left alone: they may be shared directories
    such as ``/var/lib``. Parents created here are made private too.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)
    if path.is_dir() and (path.stat().st_mode & 0o777) != DIR_MODE:
        # Not ours (e.g. a shared parent given as state_dir): files stay 0600.
        with contextlib.suppress(PermissionError):
            os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create *path* empty as a ``0600`` file if it is missing, and make it ``0600`` if not.

    Call this before handing the path to a library that creates it with the
    umask's mode (``sqlite3.connect``): SQLite gives its ``-wal`` and ``-shm``
    files the mode of the database file, so they become private too.
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(
    path: Path, mode: Literal["w", "wb", "a", "ab", "x", "xb"] = "w"
) -> IO[str] | IO[bytes]:
    """``open(path, mode)`` for writing, creating the file ``0600`` whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT
    if mode.startswith("w"):
        flags |= os.O_TRUNC
    elif mode.startswith("a"):
        flags |= os.O_APPEND
    else:
        flags |= os.O_EXCL
    private_dir(path.parent)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8")
