"""Reading input files that certkit does not control: regular files only, never more than a cap.

A checkout arrives by `git clone` or `git pull` and certkit runs as root from cron, so every
file it reads is input: a FIFO where a config should be would hang the run (while it holds the
renewal lock), and /dev/zero or a huge file would exhaust memory.  ``open`` with O_NONBLOCK
does not wait for a FIFO's writer; ``fstat`` on the opened descriptor (not the path, which
could be swapped in between) then refuses anything that is not a regular file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certkit.errors import CertkitError

MIB = 1 << 20


def read_regular(path: Path, limit: int, error: type[CertkitError], what: str = "file") -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; else ``error`` with one line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: not a regular file (a device, FIFO or socket); certkit reads {what}s from "
                        "regular files only")
        if info.st_size > limit:
            raise error(f"{path}: {info.st_size} bytes, over certkit's limit of {_size(limit)} for a {what}")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while being read
                raise error(f"{path}: over certkit's limit of {_size(limit)} for a {what}")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit // 1024} KiB"
