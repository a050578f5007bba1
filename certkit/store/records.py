"""certkit's own small records in the state folder (the fast-path record, the compose cache).

They are caches: read only when they are this user's regular file, mode 0600, not larger than
the caller's cap, and valid JSON; anything else reads as "no record" and the caller takes the
full path.  Written in place (no staging file a kill could leave behind): a record torn by a
crash fails to parse and is ignored.  Standard library only: the cron path reads them before
anything heavy is imported.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from certkit.bounded import parse_nested


def read_own_json(path: Path, max_bytes: int) -> Any | None:
    """The JSON value in ``path``, or None when it is missing, not certkit's own or not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & 0o077
            or info.st_size > max_bytes
        ):
            return None
        data = _read_all(fd, info.st_size)
        return parse_nested(lambda: json.loads(data))
    except (OSError, ValueError):  # TooDeep is a ValueError
        return None
    finally:
        os.close(fd)


def replace_own(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path``, mode 0600 from its first byte, replacing what was there
    (through the folder's handle: inside a renewal's pinned folders, see certkit.store.handles)."""
    from certkit.store import handles  # here: reading a record (the cron path) needs none of it

    with handles.parent(path) as (folder, name):
        try:
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(name, flags, 0o600, dir_fd=folder)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
        finally:
            os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    # One byte beyond the size fstat gave: a file that grew meanwhile then fails to parse.
    chunks = []
    total = 0
    while total <= size:
        chunk = os.read(fd, max(size - total, 0) + 1)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
