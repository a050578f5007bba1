"""The renewal lock: one certkit at a time may change a Notary folder.

Two renewals of the same folder at once (cron plus a person, two timers) could each
re-issue the set and leave files from both runs.  The lock is a non-blocking
``fcntl.flock`` on ``NOTARY_DIR/.certkit/lock``, as certbot's ``lock`` module does:

- the kernel drops a flock when the holding process dies, however it dies (SIGKILL,
  OOM), so a lock left by a dead process never blocks anyone and needs no clean-up;
- the file itself is never deleted: unlinking it would let a newcomer lock a fresh
  inode while an older waiter still holds the old one, so both would "hold" the lock;
- the holder writes its pid into the file, only so the refusal message can name it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from certkit import storage
from certkit.errors import FilesystemError, LockedError

LOCK_FILE = ".certkit/lock"

# Polling while --wait: short first (a dry run holds the lock for well under a second),
# then capped so a long wait costs nothing.
_FIRST_POLL = 0.05
_MAX_POLL = 0.5


@dataclass(frozen=True)
class HeldLock:
    """What the ``with`` block gets: the lock file and the pid written into it."""

    path: Path
    pid: int


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder`` (refusing a ``.certkit`` symlink that leaves the folder)."""
    return storage.Root(folder).resolve(LOCK_FILE)


@contextlib.contextmanager
def renewal_lock(folder: Path, wait: bool, timeout: float | None = None) -> Iterator[HeldLock]:
    """Hold the renewal lock of ``folder`` for the ``with`` block.

    Args:
        folder: the Notary folder (must exist); the lock is ``folder/.certkit/lock``,
            and ``.certkit`` is created with mode 0700 when absent.
        wait: when the lock is held, wait for it instead of failing at once.
        timeout: with ``wait``, give up after this many seconds (None: wait forever).

    Raises:
        LockedError: (exit 16) the lock is held and ``wait`` is false, or the wait timed out.
        FilesystemError: (exit 13) the folder is missing or the lock file cannot be opened.
    """
    path = _prepare(folder)
    fd = _open(path)
    acquired = False
    try:
        _acquire(fd, folder, wait, timeout)
        acquired = True
        _record_pid(fd, os.getpid())
        yield HeldLock(path, os.getpid())
    finally:
        if acquired:
            # Clear the pid while still holding the lock, so a later reader never names
            # a process that has finished.
            _record_pid(fd, None)
        os.close(fd)  # closing the last descriptor releases the flock


def holder_pid(folder: Path) -> int | None:
    """The pid recorded in the lock file (the last holder, or the current one), if any."""
    try:
        text = lock_path(folder).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return _parse_pid(text)


def _prepare(folder: Path) -> Path:
    if not folder.is_dir():
        raise FilesystemError(f"{folder}: no such folder; cannot take the renewal lock there")
    path = lock_path(folder)
    if not path.parent.exists():
        # .certkit also holds the CA store: private from the start.
        storage.ensure_dir(path.parent, private=True)
    return path


def _open(path: Path) -> int:
    # O_CLOEXEC (Python's default since PEP 446, stated because it matters here): a hook,
    # or a daemon a hook starts, must not inherit the descriptor, or the lock would
    # outlive certkit.  O_NOFOLLOW: never lock through a symlink.
    flags = os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, os.O_RDWR | flags, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM) and path.exists():
            # A read-only folder can still be locked (flock needs no write access); the
            # pid is then simply not recorded.
            try:
                return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                pass
        raise FilesystemError(f"{path}: cannot open the renewal lock ({exc.strerror or exc})") from exc


def _acquire(fd: int, folder: Path, wait: bool, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = _FIRST_POLL
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:
            raise FilesystemError(f"{folder}: cannot lock ({exc.strerror or exc}); is it on a file system without locks?") from exc
        holder = _read_pid(fd)
        who = f"pid {holder}" if holder is not None else "pid unknown"
        if not wait:
            raise LockedError(f"another certkit is renewing {folder} ({who}); try again later or use --wait")
        if deadline is not None and time.monotonic() >= deadline:
            raise LockedError(
                f"another certkit is still renewing {folder} ({who}) after waiting {timeout:g}s; try again later"
            )
        sleep_for = pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(sleep_for)
        pause = min(pause * 2, _MAX_POLL)


def _read_pid(fd: int) -> int | None:
    try:
        return _parse_pid(os.pread(fd, 32, 0).decode("ascii", errors="replace"))
    except OSError:
        return None


def _parse_pid(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _record_pid(fd: int, pid: int | None) -> None:
    try:
        os.ftruncate(fd, 0)
        if pid is not None:
            os.pwrite(fd, f"{pid}\n".encode("ascii"), 0)
    except OSError:
        pass  # a read-only lock file: the lock still works, only the message loses the pid
